"""Exact-path dispatch for ``/api/v1``: each route's dependencies resolved by a plan made once.

Why: for every request FastAPI finds the route by walking the routers and their routes with
per-candidate scope bookkeeping, then solves the route's dependency tree generically (a cache key
and scope checks per node, shared sub-trees solved again at each reference). Measured in-process
on this project's machine, those two were about half of the CPU of a cheap ``/api/v1`` request.
The v1 routes are fixed paths whose dependencies are a few plain ``async def`` functions, so this
layer finds the route with one dict lookup and calls the dependencies directly, in FastAPI's order
(depth first, the route's own ``dependencies=[...]`` first), each callable once per request, as
FastAPI's dependency cache does.

What stays FastAPI's: the declarations (the OpenAPI document, Swagger UI), reading and decoding
the body, validating it (`request_body_to_args`) and the header parameters
(`request_params_to_args`), validating and serialising the response (`serialize_response`), and
error handling: exceptions propagate to the app's exception middleware and its handlers, as they
do from any route. The rules for reading the body copy FastAPI's handler (`get_request_handler`):
it is read and JSON-decoded before any dependency runs, and validated after them.

A route is served here only if every part of it is understood: no path, query or cookie
parameters, no generator dependencies, no security scopes, no background tasks, at most one body
field. Anything else (``/ticker/{ticker}``, ``/instruments``, the analyzer routes with their
database sessions), any method a route does not declare (FastAPI's 405), and every request while
a test overrides one of a route's dependencies goes through FastAPI's router unchanged.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

_FAILED = object()  # a dependency that was not called because its inputs were invalid
_UNDEFINED = object()  # no body (FastAPI's `Undefined`)

Call = Callable[..., Awaitable[Any]]


@dataclass(eq=False)
class _Node:
    """One dependency (or the endpoint) and where each of its arguments comes from."""

    call: Call
    subs: list[tuple[str | None, _Node]] = field(default_factory=list)
    request_names: list[str] = field(default_factory=list)
    response_name: str | None = None
    header_params: list[Any] = field(default_factory=list)  # FastAPI validates these
    plain_headers: list[tuple[str, str]] = field(default_factory=list)  # (argument, header)
    use_cache: bool = True


class Unplannable(Exception):
    """The route uses something the dispatcher does not resolve itself; FastAPI serves it."""


def _node(dependant: Dependant, seen: set[Any]) -> _Node:
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        raise Unplannable(f"{call!r} is not a plain coroutine function")
    if (
        dependant.path_params
        or dependant.query_params
        or dependant.cookie_params
        or dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or getattr(dependant, "concurrency", None) is not None
    ):
        raise Unplannable(f"{call.__name__} has parameters the dispatcher does not resolve")
    seen.add(call)
    plain = [f for f in dependant.header_params if _plain_optional_header(f)]
    node = _Node(
        call=call,
        request_names=[
            name
            for name in (dependant.request_param_name, dependant.http_connection_param_name)
            if name
        ],
        response_name=dependant.response_param_name,
        header_params=[f for f in dependant.header_params if f not in plain],
        plain_headers=[(f.name, f.alias) for f in plain],
        use_cache=dependant.use_cache,
    )
    for sub in dependant.dependencies:
        if sub.body_params:
            raise Unplannable(f"{call.__name__}: a dependency reads the body")
        node.subs.append((sub.name, _node(sub, seen)))
    return node


def _plain_optional_header(param: Any) -> bool:
    """A ``str | None = None`` header without constraints: its value is the header as sent (or
    None), which is all FastAPI's validation of it can produce, so it is read directly (FastAPI's
    `request_params_to_args` cost more than the rest of the order guard's dependency)."""
    info = param.field_info
    return (
        info.annotation == (str | None)
        and info.default is None
        and not info.metadata
        and isinstance(param.alias, str)
        and "_" not in param.alias
    )


def _json_media(content_type: str) -> bool:
    """FastAPI's test for a JSON body: ``application/json`` or ``application/*+json``."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class Plan:
    """One route: its endpoint node, body field and response settings."""

    def __init__(self, route: APIRoute) -> None:
        dependant = route.dependant
        if len(dependant.body_params) > 1 or route.body_field is None and dependant.body_params:
            raise Unplannable(f"{route.path}: more than one body field")
        if route.body_field is not None and isinstance(route.body_field.field_info, params.Form):
            raise Unplannable(f"{route.path}: a form body")
        self.route = route
        self.calls: set[Any] = set()
        self.endpoint = _node(dependant, self.calls)
        self.body_field = route.body_field
        self.body_params = list(dependant.body_params)
        self.embed_body_fields = route._embed_body_fields
        strict = route.strict_content_type
        self.strict_content_type = bool(
            strict.value if isinstance(strict, DefaultPlaceholder) else strict
        )
        self.status_code = route.status_code
        self.response_field = route.response_field
        self.response_class = route.response_class
        self.dump_json = route.response_field is not None and isinstance(
            route.response_class, DefaultPlaceholder
        )

    async def read_body(self, request: Request) -> Any:
        """The body as FastAPI's handler reads it: decoded JSON, raw bytes, or `_UNDEFINED`."""
        if self.body_field is None:
            return _UNDEFINED
        try:
            raw = await request.body()
            if not raw:
                return _UNDEFINED
            content_type = request.headers.get("content-type")
            if not content_type:
                return raw if self.strict_content_type else await request.json()
            if _json_media_cached(content_type):
                return await request.json()
            return raw
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([error], body=exc.doc) from exc
        except HTTPException:
            raise
        except Exception as exc:
            raise HTTPException(400, "There was an error parsing the body") from exc

    async def run(self, request: Request) -> Response:
        body = await self.read_body(request)
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        state = _Solve(request, sub_response)
        values = await state.arguments(self.endpoint)
        if self.body_params:
            body_values, body_errors = await request_body_to_args(
                body_fields=self.body_params,
                received_body=None if body is _UNDEFINED else body,
                embed_body_fields=self.embed_body_fields,
            )
            if values is not _FAILED:
                values.update(body_values)
            state.errors.extend(body_errors)
        if state.errors or values is _FAILED:
            raise RequestValidationError(state.errors, body=None if body is _UNDEFINED else body)
        raw = await self.endpoint.call(**values)
        if isinstance(raw, Response):
            return raw
        status = self.status_code or sub_response.status_code
        if sub_response.status_code:
            status = sub_response.status_code
        content = await serialize_response(
            field=self.response_field,
            response_content=raw,
            include=self.route.response_model_include,
            exclude=self.route.response_model_exclude,
            by_alias=self.route.response_model_by_alias,
            exclude_unset=self.route.response_model_exclude_unset,
            exclude_defaults=self.route.response_model_exclude_defaults,
            exclude_none=self.route.response_model_exclude_none,
            is_coroutine=True,
            dump_json=self.dump_json,
        )
        args: dict[str, Any] = {} if status is None else {"status_code": status}
        if self.dump_json:
            response = Response(content=content, media_type="application/json", **args)
        else:
            response_class = self.response_class
            if isinstance(response_class, DefaultPlaceholder):
                response_class = response_class.value
            response = response_class(content, **args)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response


_MEDIA_MEMO: dict[str, bool] = {}


def _json_media_cached(content_type: str) -> bool:
    found = _MEDIA_MEMO.get(content_type)
    if found is None:
        found = _json_media(content_type)
        if len(_MEDIA_MEMO) < 256:  # clients send a handful of spellings; never grow unbounded
            _MEDIA_MEMO[content_type] = found
    return found


class _Solve:
    """One request's dependency values (by callable) and validation errors."""

    __slots__ = ("cache", "errors", "request", "response")

    def __init__(self, request: Request, response: Response) -> None:
        self.request = request
        self.response = response
        self.cache: dict[Any, Any] = {}
        self.errors: list[Any] = []

    async def arguments(self, node: _Node) -> Any:
        """The keyword arguments of ``node``'s call, or `_FAILED`."""
        values: dict[str, Any] = {}
        failed = False
        for name, sub in node.subs:
            if sub.use_cache and sub.call in self.cache:
                value = self.cache[sub.call]
            else:
                args = await self.arguments(sub)
                if args is _FAILED:
                    failed = True
                    continue
                value = await sub.call(**args)
                self.cache.setdefault(sub.call, value)
            if name is not None:
                values[name] = value
        for name in node.request_names:
            values[name] = self.request
        if node.response_name:
            values[node.response_name] = self.response
        if node.plain_headers:
            headers = self.request.headers
            for name, header in node.plain_headers:
                values[name] = headers.get(header)
        if node.header_params:
            found, errors = request_params_to_args(node.header_params, self.request.headers)
            if errors:
                self.errors.extend(errors)
                failed = True
            values.update(found)
        return _FAILED if failed else values


class V1Dispatch:
    """The router's entry: planned ``/api/v1`` routes here, everything else to ``fallback``."""

    def __init__(self, app: FastAPI, routes: Iterable[APIRoute], fallback: ASGIApp) -> None:
        self.app = app
        self.fallback = fallback
        self.plans: dict[tuple[str, str], Plan] = {}
        self.unplanned: dict[str, str] = {}  # path: why FastAPI's router serves it
        self.served = 0  # requests answered here (tests compare both paths with it)
        for route in routes:
            try:
                plan = Plan(route)
            except Unplannable as exc:
                self.unplanned[route.path] = str(exc)
                continue
            for method in route.methods or ():
                self.plans[(route.path, method)] = plan

    def plan_for(self, scope: Scope) -> Plan | None:
        """The plan serving this request, or None for FastAPI's router."""
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        plan = self.plans.get((scope["path"], scope["method"]))
        if plan is None:
            return None
        overrides = self.app.dependency_overrides
        if overrides and not plan.calls.isdisjoint(overrides):
            return None
        return plan

    async def serve(self, plan: Plan, scope: Scope, receive: Receive, send: Send) -> None:
        route = plan.route
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        scope.setdefault("router", self.app.router)
        self.served += 1
        response = await plan.run(Request(scope, receive, send))
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self.plan_for(scope)
        if plan is None:
            await self.fallback(scope, receive, send)
        else:
            await self.serve(plan, scope, receive, send)


def uninstall(app: FastAPI) -> None:
    """Serve every request through FastAPI's router again. The dispatcher answers its routes'
    paths before the router looks at its route list, so a route put in front of a v1 route later
    (tests do, to stand in for one) is only reached after this."""
    stack = app.router.middleware_stack
    if isinstance(stack, V1Dispatch):
        app.router.middleware_stack = stack.fallback  # type: ignore[assignment]


def install(app: FastAPI, routes: Iterable[APIRoute]) -> V1Dispatch:
    """Put a `V1Dispatch` for ``routes`` in front of ``app``'s router (inside the exception
    middleware, so errors are rendered by the app's handlers)."""
    dispatch = V1Dispatch(app, routes, app.router.middleware_stack)
    app.router.middleware_stack = dispatch
    return dispatch
