"""Which server process holds which interview, kept in Redis (CANDOR_REDIS_URL).

One key per held interview, `candor:owner:{id}` = the holder's process id, set only if absent
(claim) and with a time to live that the holder's heartbeat renews. A process that dies stops
renewing: within the TTL its interviews have no owner and another process adopts them (the
restart path of the state machine: they become `interrupted`). Beside it, the interview's panel
snapshot (`candor:snap:{id}`, JSON, same TTL), so an HR panel on any process draws every live
interview; a set `candor:held` lists the ids, and `candor:proc:{process id}` each live process's
load."""
from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from typing import Any

from redis.asyncio import Redis

from server.errors import ApiError

logger = logging.getLogger(__name__)

PREFIX = "candor:"
HELD = PREFIX + "held"

# Renew our key while it is still ours; take it again if it is gone (Redis was away or
# restarted empty); 0 when another process holds it now (this one stalled past its TTL).
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
# Delete our key only while it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class HeldElsewhere(ApiError):
    """Another live process holds the interview (commands are forwarded to it; the candidate's
    page, told 503, tries again)."""

    status = 503

    def __init__(self, owner: str, message: str = "the interview is held by another server process; "
                                                  "try again in a few seconds") -> None:
        super().__init__(message)
        self.owner = owner


def new_process_id() -> str:
    """Unique per start: a restarted process is a new owner (its old keys expire)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def owner_key(interview_id: int) -> str:
    return f"{PREFIX}owner:{interview_id}"


def snapshot_key(interview_id: int) -> str:
    return f"{PREFIX}snap:{interview_id}"


def process_key(process_id: str) -> str:
    return f"{PREFIX}proc:{process_id}"


class Ownership:
    def __init__(self, redis: Redis, process_id: str, ttl_s: float) -> None:
        self.redis = redis
        self.process_id = process_id
        self.ttl_ms = int(ttl_s * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def claim(self, interview_id: int) -> str | None:
        """Take the interview unless a live process holds it: None when it is ours now, else
        the holder's process id."""
        key = owner_key(interview_id)
        if await self.redis.set(key, self.process_id, px=self.ttl_ms, nx=True):
            await self.redis.sadd(HELD, str(interview_id))
            return None
        holder = await self.redis.get(key)
        if holder is None:  # expired between the two calls: try once more
            return await self.claim(interview_id)
        if _text(holder) == self.process_id:
            await self._renew(keys=[key, HELD], args=[self.process_id, self.ttl_ms, interview_id])
            return None
        return _text(holder)

    async def owner(self, interview_id: int) -> str | None:
        holder = await self.redis.get(owner_key(interview_id))
        return None if holder is None else _text(holder)

    async def release(self, interview_id: int) -> None:
        if await self._release(keys=[owner_key(interview_id)], args=[self.process_id]):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.srem(HELD, str(interview_id))
                pipe.delete(snapshot_key(interview_id))
                await pipe.execute()

    async def let_go(self, interview_ids: list[int]) -> None:
        """On shutdown: our keys go but the ids stay listed, so a live process adopts them now."""
        for interview_id in interview_ids:
            await self._release(keys=[owner_key(interview_id)], args=[self.process_id])
        await self.redis.delete(process_key(self.process_id))

    async def renew(self, interview_ids: list[int], snapshots: dict[int, dict[str, Any]],
                    load: dict[str, Any]) -> list[int]:
        """The heartbeat: our keys renewed, snapshots written, our load announced. Returns the
        ids whose key is no longer ours (lost: this process stalled past the TTL)."""
        lost = []
        for interview_id in interview_ids:
            if not await self._renew(keys=[owner_key(interview_id), HELD],
                                     args=[self.process_id, self.ttl_ms, interview_id]):
                lost.append(interview_id)
        await self.write_snapshots({k: v for k, v in snapshots.items() if k not in lost})
        await self.redis.set(process_key(self.process_id), json.dumps(load), px=self.ttl_ms)
        return lost

    async def write_snapshots(self, snapshots: dict[int, dict[str, Any]]) -> None:
        if not snapshots:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for interview_id, view in snapshots.items():
                pipe.set(snapshot_key(interview_id), json.dumps(view, ensure_ascii=False, default=str),
                         px=self.ttl_ms)
            await pipe.execute()

    async def orphans(self) -> list[int]:
        """Interviews listed as held whose owner's key expired (its process died)."""
        ids = sorted(int(i) for i in await self.redis.smembers(HELD))
        if not ids:
            return []
        owners = await self.redis.mget([owner_key(i) for i in ids])
        return [i for i, holder in zip(ids, owners, strict=True) if holder is None]

    async def forget_orphan(self, interview_id: int) -> None:
        """An orphan nobody needs to watch (finished or never started): off the list."""
        if await self.redis.get(owner_key(interview_id)) is None:
            await self.redis.srem(HELD, str(interview_id))

    async def held_elsewhere(self) -> set[int]:
        """Interviews a live process other than this one holds."""
        ids = sorted(int(i) for i in await self.redis.smembers(HELD))
        if not ids:
            return set()
        owners = await self.redis.mget([owner_key(i) for i in ids])
        mine = self.process_id.encode()
        return {i for i, holder in zip(ids, owners, strict=True) if holder is not None and holder != mine}

    async def snapshots(self) -> list[dict[str, Any]]:
        """Every held interview's panel snapshot, whichever process holds it."""
        ids = sorted(int(i) for i in await self.redis.smembers(HELD))
        if not ids:
            return []
        views = await self.redis.mget([snapshot_key(i) for i in ids])
        return [json.loads(v) for v in views if v is not None]

    async def processes(self) -> list[dict[str, Any]]:
        """Each live process's load, as its last heartbeat announced it."""
        keys = [k async for k in self.redis.scan_iter(match=process_key("*"), count=100)]
        values = await self.redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v is not None]
