from __future__ import annotations

from tests.support.trading import Trader


async def test_smoke(trader: Trader) -> None:
    r = await trader.post("placeorder", strategy="t", exchange="NSE", symbol="SBIN", action="BUY", quantity=1)
    print(r.status_code, r.json())
    oid = r.json()["orderid"]
    for name, kw in [("orderstatus", {"orderid": oid}), ("openposition", {"symbol": "SBIN", "exchange": "NSE", "product": "MIS"}),
                     ("placesmartorder", {"strategy": "t", "exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": 0, "position_size": 5}),
                     ("basketorder", {"strategy": "t", "orders": [{"exchange": "NSE", "symbol": "SBIN", "action": "SELL", "quantity": 1}, {"exchange": "NSE", "symbol": "INFY", "action": "BUY", "quantity": 1}]}),
                     ("splitorder", {"strategy": "t", "exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": 45, "splitsize": 20}),
                     ("placeorder", {"strategy": "t", "exchange": "NSE", "symbol": "SBIN", "action": "BUY", "quantity": 1, "pricetype": "LIMIT", "price": 100}),
                     ("cancelallorder", {}), ("closeposition", {}), ("openposition", {"symbol": "SBIN", "exchange": "NSE", "product": "MIS"}),
                     ("placeorder", {"strategy": "t", "exchange": "NSE", "symbol": "SBINX", "action": "BUY", "quantity": 1}),
                     ("cancelorder", {"orderid": oid}), ("cancelorder", {"orderid": "nope"}),
                     ]:
        r = await trader.post(name, **kw)
        print(name, r.status_code, r.json())
    await trader.analyzer(True)
    r = await trader.post("placeorder", strategy="t", exchange="NSE", symbol="SBIN", action="BUY", quantity=1)
    print(r.status_code, r.json())
    r = await trader.post("placeorder", strategy="t", exchange="NSE", symbol="SBIN", action="BUY", quantity=0)
    print(r.status_code, r.json())
    assert 0
