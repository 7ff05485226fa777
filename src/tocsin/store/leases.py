"""Leases: one holder at a time per name, taken over when it expires. Every change is a compare-and-set on
(holder, epoch), so two processes never both believe they hold the same lease after a successful call; the
epoch grows on every change of holder."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from tocsin.store.tables import leases


def acquire(conn: Connection, name: str, holder: str, now_us: int, ttl_us: int) -> int | None:
    """Take or renew the lease; returns its epoch, or None when someone else holds it unexpired."""
    row = conn.execute(select(leases).where(leases.c.name == name)).first()
    if row is None:
        # the dialect's own insert, imported here: PostgreSQL's module costs ~40 ms of start-up on SQLite
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        ins = insert(leases)
        created = conn.execute(ins.values(name=name, holder=holder, epoch=1, expires_us=now_us + ttl_us)
                               .on_conflict_do_nothing(index_elements=["name"]).returning(leases.c.name)).first()
        return 1 if created is not None else None
    if row.holder == holder and row.expires_us > now_us:
        return row.epoch if renew(conn, name, holder, row.epoch, now_us, ttl_us) else None
    if row.expires_us > now_us:
        return None
    epoch = row.epoch + 1
    done = conn.execute(update(leases).where(leases.c.name == name, leases.c.epoch == row.epoch)
                        .values(holder=holder, epoch=epoch, expires_us=now_us + ttl_us)).rowcount
    return epoch if done == 1 else None


def renew(conn: Connection, name: str, holder: str, epoch: int, now_us: int, ttl_us: int) -> bool:
    return conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder,
                                             leases.c.epoch == epoch, leases.c.expires_us > now_us)
                        .values(expires_us=now_us + ttl_us)).rowcount == 1


def release(conn: Connection, name: str, holder: str, epoch: int) -> None:
    conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder, leases.c.epoch == epoch)
                 .values(expires_us=0))
