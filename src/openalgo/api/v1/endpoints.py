"""The `/api/v1` endpoint table: one row per OpenAlgo endpoint we serve.

It is the single source for what the routers declare (path, method, operation id, tag, models),
for the rate-limit class of each route, for which endpoints the sandbox serves in analyzer mode
and which create orders (and so take an ``Idempotency-Key`` and write the order log). Tests walk
it to check that every endpoint has schemas, documentation and a stable operation id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from openalgo.api.v1.schemas import (
    account,
    analyzer,
    calendar,
    gtt,
    market,
    options,
    orders,
    symbols,
    system,
)

API_PREFIX = "/api/v1"


class Tag(StrEnum):
    ORDERS = "orders"
    OPTIONS = "options"
    GTT = "gtt"
    ACCOUNT = "account"
    MARKET_DATA = "market data"
    SYMBOLS = "symbols"
    CALENDAR = "calendar"
    ANALYZER = "analyzer"
    SYSTEM = "system"


TAG_DESCRIPTIONS = {
    Tag.ORDERS: "Place, modify and cancel orders; order status and open position.",
    Tag.OPTIONS: "Option orders by ATM/ITM/OTM offset, option symbols, chains and greeks.",
    Tag.GTT: "Good-till-triggered orders (single trigger and OCO).",
    Tag.ACCOUNT: "Funds, order book, trade book, positions, holdings and margin.",
    Tag.MARKET_DATA: "Quotes, depth, historical candles and intervals.",
    Tag.SYMBOLS: "The instrument master: symbol details, search, expiries, the full list.",
    Tag.CALENDAR: "Market holidays and session timings.",
    Tag.ANALYZER: "Analyzer (paper-trading) mode of the calling user.",
    Tag.SYSTEM: "API key and broker session check.",
}


class RouteClass(StrEnum):
    """OpenAlgo's rate-limit classes (reference 1.5); the security layer maps them to limits."""

    ORDER = "order"
    SMART_ORDER = "smart_order"
    API = "api"
    GREEKS = "greeks"


@dataclass(frozen=True)
class Endpoint:
    name: str  # path below /api/v1, as OpenAlgo names it: "placeorder", "analyzer/toggle"
    tag: Tag
    summary: str
    response: type[BaseModel]
    request: type[BaseModel] | None = None  # JSON body
    query: type[BaseModel] | None = None  # GET endpoints
    method: str = "POST"
    route_class: RouteClass = RouteClass.API
    sandbox_served: bool = False  # analyzer mode routes it to the sandbox; responses carry mode
    creates_orders: bool = False  # takes Idempotency-Key; recorded in the order log
    path_suffix: str = ""  # "/{ticker}" for GET /ticker/{EXCHANGE}:{SYMBOL}

    @property
    def operation_id(self) -> str:
        return self.name.replace("/", "_")

    @property
    def path(self) -> str:
        return f"/{self.name}{self.path_suffix}"

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path


def _order(name: str, summary: str, request: type[BaseModel], response: type[BaseModel], *,
           route_class: RouteClass = RouteClass.ORDER, creates: bool = True,
           tag: Tag = Tag.ORDERS) -> Endpoint:  # fmt: skip
    return Endpoint(
        name,
        tag,
        summary,
        response,
        request=request,
        route_class=route_class,
        sandbox_served=True,
        creates_orders=creates,
    )


KeyOnly = account.KeyOnlyRequest

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("ping", Tag.SYSTEM, "Check the API key and broker session", system.PingResponse,
             request=KeyOnly),
    # orders
    _order("placeorder", "Place an order", orders.PlaceOrderRequest, orders.OrderResponse),
    _order("placesmartorder", "Move the position to a target size", orders.PlaceSmartOrderRequest,
           orders.SmartOrderResponse, route_class=RouteClass.SMART_ORDER),
    _order("optionsorder", "Place an option order by offset from ATM",
           options.OptionsOrderRequest, options.OptionsOrderResponse, tag=Tag.OPTIONS),
    _order("optionsmultiorder", "Place a multi-leg option order",
           options.OptionsMultiOrderRequest, options.OptionsMultiOrderResponse, tag=Tag.OPTIONS),
    _order("basketorder", "Place several orders, buys before sells", orders.BasketOrderRequest,
           orders.BasketOrderResponse, route_class=RouteClass.API),
    _order("splitorder", "Place one order as several smaller ones", orders.SplitOrderRequest,
           orders.SplitOrderResponse, route_class=RouteClass.API),
    _order("modifyorder", "Modify an open order", orders.ModifyOrderRequest,
           orders.ModifyOrderResponse, creates=False),
    _order("cancelorder", "Cancel an open order", orders.CancelOrderRequest,
           orders.CancelOrderResponse, creates=False),
    _order("cancelallorder", "Cancel every open order", orders.CancelAllOrderRequest,
           orders.CancelAllOrderResponse, creates=False, route_class=RouteClass.API),
    _order("closeposition", "Square off every open position", orders.ClosePositionRequest,
           orders.ClosePositionResponse, route_class=RouteClass.API),
    Endpoint("orderstatus", Tag.ORDERS, "One order's status", orders.OrderStatusResponse,
             request=orders.OrderStatusRequest, sandbox_served=True),
    Endpoint("openposition", Tag.ORDERS, "Net quantity of one position",
             orders.OpenPositionResponse, request=orders.OpenPositionRequest,
             sandbox_served=True),
    # account
    Endpoint("orderbook", Tag.ACCOUNT, "Today's orders and statistics", account.OrderBookResponse,
             request=KeyOnly, sandbox_served=True),
    Endpoint("tradebook", Tag.ACCOUNT, "Today's trades", account.TradeBookResponse,
             request=KeyOnly, sandbox_served=True),
    Endpoint("positionbook", Tag.ACCOUNT, "Positions", account.PositionBookResponse,
             request=KeyOnly, sandbox_served=True),
    Endpoint("holdings", Tag.ACCOUNT, "Holdings and statistics", account.HoldingsResponse,
             request=KeyOnly, sandbox_served=True),
    Endpoint("funds", Tag.ACCOUNT, "Funds and margin used", account.FundsResponse,
             request=KeyOnly, sandbox_served=True),
    Endpoint("margin", Tag.ACCOUNT, "Margin required by a basket of positions",
             account.MarginResponse, request=account.MarginRequest),
    # market data
    Endpoint("quotes", Tag.MARKET_DATA, "Quote of one symbol", market.QuotesResponse,
             request=market.SymbolRequest),
    Endpoint("multiquotes", Tag.MARKET_DATA, "Quotes of many symbols",
             market.MultiQuotesResponse, request=market.MultiQuotesRequest),
    Endpoint("depth", Tag.MARKET_DATA, "Five-level market depth", market.DepthResponse,
             request=market.SymbolRequest),
    Endpoint("history", Tag.MARKET_DATA, "Historical candles", market.HistoryResponse,
             request=market.HistoryRequest),
    Endpoint("intervals", Tag.MARKET_DATA, "Candle intervals the venue supports",
             market.IntervalsResponse, request=KeyOnly),
    Endpoint("ticker", Tag.MARKET_DATA, "Candles of EXCHANGE:SYMBOL as JSON or text",
             market.HistoryResponse, query=market.TickerQuery, method="GET",
             path_suffix="/{ticker}"),
    # symbols
    Endpoint("symbol", Tag.SYMBOLS, "Instrument master row of one symbol",
             symbols.SymbolResponse, request=market.SymbolRequest),
    Endpoint("search", Tag.SYMBOLS, "Search symbols", symbols.SearchResponse,
             request=symbols.SearchRequest),
    Endpoint("expiry", Tag.SYMBOLS, "Expiry dates of an underlying", symbols.ExpiryResponse,
             request=symbols.ExpiryRequest),
    Endpoint("instruments", Tag.SYMBOLS, "Every instrument of an exchange, as JSON or CSV",
             symbols.InstrumentsResponse, query=symbols.InstrumentsQuery, method="GET"),
    # options
    Endpoint("optionsymbol", Tag.OPTIONS, "Option symbol at an offset from ATM",
             options.OptionSymbolResponse, request=options.OptionSymbolRequest),
    Endpoint("optionchain", Tag.OPTIONS, "Option chain with quotes (and greeks)",
             options.OptionChainResponse, request=options.OptionChainRequest),
    Endpoint("optiongreeks", Tag.OPTIONS, "Implied volatility and greeks of one option",
             options.OptionGreeksResponse, request=options.OptionGreeksRequest,
             route_class=RouteClass.GREEKS),
    Endpoint("multioptiongreeks", Tag.OPTIONS, "Greeks of up to 50 options",
             options.MultiOptionGreeksResponse, request=options.MultiOptionGreeksRequest),
    Endpoint("syntheticfuture", Tag.OPTIONS, "Synthetic future price from put-call parity",
             options.SyntheticFutureResponse, request=options.SyntheticFutureRequest),
    # analyzer
    Endpoint("analyzer", Tag.ANALYZER, "Analyzer mode status", analyzer.AnalyzerResponse,
             request=KeyOnly),
    Endpoint("analyzer/toggle", Tag.ANALYZER, "Switch analyzer mode on or off",
             analyzer.AnalyzerResponse, request=analyzer.AnalyzerToggleRequest),
    # calendar
    Endpoint("market/holidays", Tag.CALENDAR, "Market holidays of a year",
             calendar.HolidaysResponse, request=calendar.HolidaysRequest),
    Endpoint("market/timings", Tag.CALENDAR, "Exchange session timings of a date",
             calendar.TimingsResponse, request=calendar.TimingsRequest),
    # GTT
    _order("placegttorder", "Place a GTT trigger", gtt.PlaceGttRequest, gtt.GttResponse,
           tag=Tag.GTT),
    _order("modifygttorder", "Replace a GTT trigger", gtt.ModifyGttRequest, gtt.GttResponse,
           tag=Tag.GTT, creates=False),
    _order("cancelgttorder", "Cancel a GTT trigger", gtt.CancelGttRequest, gtt.GttResponse,
           tag=Tag.GTT, creates=False),
    Endpoint("gttorderbook", Tag.GTT, "GTT triggers", gtt.GttOrderBookResponse,
             request=gtt.GttOrderBookRequest, sandbox_served=True),
)  # fmt: skip

BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}


def endpoint(name: str) -> Endpoint:
    """The row for ``name`` ("placeorder", "analyzer/toggle"); KeyError for an unknown one."""
    return BY_NAME[name]
