"""Server-rendered pages (Jinja2). The admin pages of later issues live beside this one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from openalgo import __version__
from openalgo.resources import templates_dir

router = APIRouter(include_in_schema=False)


def create_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(templates_dir()))


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "home.html", {"version": __version__})
