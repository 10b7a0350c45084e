from __future__ import annotations

from openalgo.db.models.broker_session import BrokerCredential, BrokerSession
from openalgo.db.repository import Repository


class BrokerSessionRepository(Repository[BrokerSession]):
    model = BrokerSession

    async def get(self, user_id: int, broker: str) -> BrokerSession | None:
        return await self.get_one_or_none(
            self.select().where(BrokerSession.user_id == user_id, BrokerSession.broker == broker)
        )


class BrokerCredentialRepository(Repository[BrokerCredential]):
    model = BrokerCredential

    async def get(self, user_id: int, broker: str) -> BrokerCredential | None:
        return await self.get_one_or_none(
            self.select().where(
                BrokerCredential.user_id == user_id, BrokerCredential.broker == broker
            )
        )
