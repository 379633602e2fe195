from __future__ import annotations

from typing import Any

from ..context import AuthResult, FlowContext
from .base import Node, Param
from .common import ask_digits, play

CUSTOMER_VARIABLES = ("customer_id", "customer_name", "customer_segment", "customer_language")


class AuthenticateNode(Node):
    """Authenticate the caller: account number + PIN, or caller ID.

    Checked against the customer store (PINs hashed there) or an HTTP lookup
    that answers {authenticated, locked, customer}. The caller gets
    `attempts` tries per call; the store also counts failures per account
    across calls and locks the account for lockout_minutes once they reach
    `attempts`. Every attempt and the lockout land in the timeline, the PIN
    never does.
    """

    type_name = "authenticate"
    params = {
        "method": Param(str, default="account_pin", choices=("account_pin", "caller_id")),
        "source": Param(str, default="store", choices=("store", "http")),
        "url": Param(str, doc="for source http: POSTed {account, pin}"),
        "account_prompt": Param((str, list, dict), prompt=True),
        "pin_prompt": Param((str, list, dict), prompt=True),
        "invalid_prompt": Param((str, list, dict), prompt=True),
        "account_digits": Param(int, default=10),
        "pin_digits": Param(int, default=4),
        "timeout_ms": Param(int, default=6000),
        "attempts": Param(int, default=3),
        "lockout_minutes": Param(int, default=15),
        "account_var": Param(str, default="account"),
        "pin_var": Param(str, default="pin"),
    }
    transitions = ("next", "failed", "locked")
    time_limit = 600.0
    takes_input = True

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if values["source"] == "http" and not values["url"]:
            problems.append(("source", "source http needs url"))
        if values["attempts"] < 1:
            problems.append(("attempts", "attempts must be at least 1"))
        return problems

    @classmethod
    def reads(cls, values: dict[str, Any]) -> set[str]:
        found = super().reads(values)
        return found | ({"caller_id"} if values["method"] == "caller_id" else set())

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["account_var"], values["pin_var"], "auth_attempts", *CUSTOMER_VARIABLES}

    @classmethod
    def secrets(cls, values: dict[str, Any]) -> set[str]:
        return {values["pin_var"]}

    async def execute(self, ctx: FlowContext) -> str:
        if self["method"] == "caller_id":
            return await self._by_caller_id(ctx)
        for attempt in range(1, self["attempts"] + 1):
            await ctx.set(self.id, "auth_attempts", attempt)
            account = await self._digits(ctx, self["account_prompt"], self["account_digits"],
                                         self["account_var"])
            pin = await self._digits(ctx, self["pin_prompt"], self["pin_digits"],
                                     self["pin_var"])
            result = await self._check(ctx, account, pin)
            if result.status == "ok":
                await self._authenticated(ctx, account, result.customer or {}, attempt)
                return "next"
            event = {"node": self.id, "account": account, "attempt": attempt,
                     "reason": result.status}
            await ctx.call.record_event("customer.authentication_failed", event)
            if result.status == "locked" or result.locked_now:
                await self._locked(ctx, account, attempt)
                return "locked"
            if attempt < self["attempts"]:
                await play(ctx, self["invalid_prompt"], barge_in=True)
        await self._locked(ctx, account, self["attempts"])
        return "locked"

    async def _digits(self, ctx: FlowContext, prompt: Any, max_digits: int, into: str) -> str:
        result = await ask_digits(ctx, prompt, max_digits=max_digits,
                                  timeout_ms=self["timeout_ms"], inter_digit_ms=3000,
                                  terminator="#")
        await ctx.input(self.id, into, digits=result.digits, reason=result.reason)
        await ctx.set(self.id, into, result.digits)
        return result.digits

    async def _check(self, ctx: FlowContext, account: str, pin: str) -> AuthResult:
        if not account or not pin:
            return AuthResult("no_input")
        if self["source"] == "http":
            return await self._http_check(ctx, account, pin)
        store = ctx.services.store
        if store is None:
            raise RuntimeError("no customer store configured for flows")
        return await store.authenticate(account, pin, max_failures=self["attempts"],
                                        lockout_s=self["lockout_minutes"] * 60)

    async def _http_check(self, ctx: FlowContext, account: str, pin: str) -> AuthResult:
        if ctx.services.http is None:
            raise RuntimeError("no HTTP client configured for flows")
        try:
            response = await ctx.services.http.request(
                "POST", ctx.render(self["url"]), json={"account": account, "pin": pin},
                timeout_s=self["timeout_ms"] / 1000)
        except (TimeoutError, OSError):
            return AuthResult("unreachable")
        body = response.body if isinstance(response.body, dict) else {}
        if response.status == 200 and body.get("authenticated"):
            return AuthResult("ok", dict(body.get("customer") or {}))
        return AuthResult("locked" if body.get("locked") else "bad_pin")

    async def _authenticated(self, ctx: FlowContext, account: str, customer: dict[str, Any],
                             attempt: int) -> None:
        for name in CUSTOMER_VARIABLES:
            value = customer.get(name.removeprefix("customer_"))
            if value is not None or name not in ctx.variables:
                await ctx.set(self.id, name, value)
        await ctx.call.record_event("customer.authenticated", {
            "node": self.id, "account": account, "customer_id": customer.get("id"),
            "method": self["method"], "attempt": attempt})

    async def _locked(self, ctx: FlowContext, account: str, attempt: int) -> None:
        await ctx.call.record_event("customer.locked_out", {
            "node": self.id, "account": account, "attempts": attempt,
            "lockout_minutes": self["lockout_minutes"]})

    async def _by_caller_id(self, ctx: FlowContext) -> str:
        store = ctx.services.store
        caller = str(ctx.variables.get("caller_id") or "")
        customer = await store.customer_by_caller_id(caller) if store and caller else None
        if customer is None:
            await ctx.call.record_event("customer.authentication_failed", {
                "node": self.id, "caller_id": caller, "attempt": 1, "reason": "unknown"})
            return "failed"
        await self._authenticated(ctx, str(customer.get("account", "")), customer, 1)
        return "next"
