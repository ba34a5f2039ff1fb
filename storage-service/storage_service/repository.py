"""Every SQL query of storage-service. Sessions come from the caller (RLS scope already
set); the repository only flushes."""

from __future__ import annotations

import builtins
from uuid import UUID

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage_service.models import StoredFile


class FileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_workspace(self, workspace_id: UUID) -> None:
        """Serialise quota checks and inserts of one workspace until the transaction ends.
        (The key text is the one `lock_owner` used: a personal workspace's id is its
        user's.)"""
        await self.session.execute(
            text("select pg_advisory_xact_lock(hashtextextended('storage:' || :w, 0))"),
            {"w": str(workspace_id)},
        )

    async def get(self, file_id: UUID) -> StoredFile | None:
        return await self.session.get(StoredFile, file_id)

    async def by_sha(self, workspace_id: UUID, sha256: str) -> StoredFile | None:
        rows = await self.session.execute(
            select(StoredFile).where(
                col(StoredFile.workspace_id) == workspace_id, col(StoredFile.sha256) == sha256
            )
        )
        return rows.scalars().first()

    async def usage(self, workspace_id: UUID) -> tuple[int, int]:
        """(files, stored bytes) of one workspace."""
        row = (
            await self.session.execute(
                select(
                    func.count(col(StoredFile.id)),
                    func.coalesce(func.sum(StoredFile.stored_bytes), 0),
                ).where(col(StoredFile.workspace_id) == workspace_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def newest(
        self, workspaces: builtins.list[UUID] | None, kind: str | None, limit: int
    ) -> builtins.list[StoredFile]:
        """The newest files of these workspaces (None: every one the session sees)."""
        query = (
            select(StoredFile)
            .order_by(col(StoredFile.created_at).desc(), col(StoredFile.id))
            .limit(limit)
        )
        if workspaces is not None:
            query = query.where(col(StoredFile.workspace_id).in_(workspaces))
        if kind is not None:
            query = query.where(col(StoredFile.kind) == kind)
        return list((await self.session.execute(query)).scalars())

    async def add(self, row: StoredFile) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete(self, row: StoredFile) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def keys_in_use(self, workspace_id: UUID, keys: builtins.list[str]) -> set[str]:
        """Which of these object keys another remaining file of the workspace still uses."""
        if not keys:
            return set()
        used = await self.session.execute(
            select(func.unnest(StoredFile.object_keys)).where(
                col(StoredFile.workspace_id) == workspace_id,
                StoredFile.__table__.c.object_keys.overlap(keys),
            )
        )
        return {k for k in used.scalars() if k in keys}

    async def delete_all(self, workspace_id: UUID) -> builtins.list[StoredFile]:
        rows = await self.session.execute(
            delete(StoredFile)
            .where(col(StoredFile.workspace_id) == workspace_id)
            .returning(StoredFile)
        )
        return list(rows.scalars())
