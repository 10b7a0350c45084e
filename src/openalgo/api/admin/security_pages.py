"""The administrator's security page: active bans (lift them) and the recent audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openalgo.api.admin.pagekit import checked_form, page, redirect, render
from openalgo.api.auth import AdminUser, CurrentIdentity, SecurityDep
from openalgo.api.deps import ReadSessionDep, SessionDep
from openalgo.db.repositories.security import IpBanRepository, SecurityEventRepository
from openalgo.security.bans import lift_ban
from openalgo.security.clientaddr import normalize

router = APIRouter(include_in_schema=False)


@router.get("/admin/security")
async def security_page(
    request: Request,
    identity: CurrentIdentity,
    admin: AdminUser,
    db: ReadSessionDep,
    security: SecurityDep,
) -> Response:
    del admin  # the dependency is the check
    now = security.clock.now()
    bans = await IpBanRepository(db).active(now)
    events = await SecurityEventRepository(db).recent(100)
    return render(page(request, identity), "admin/security.html", {"bans": bans, "events": events})


@router.post("/admin/security/bans/lift")
async def lift(
    request: Request,
    identity: CurrentIdentity,
    admin: AdminUser,
    db: SessionDep,
    security: SecurityDep,
) -> Response:
    p = page(request, identity)
    form = await checked_form(request, p)
    target = normalize(form.get("address", ""))
    if await lift_ban(db, target, now=security.clock.now(), user_id=admin.id):
        security.bans.remove(target)
    return redirect("/admin/security", msg="ban_lifted")
