"""The capacity SQL of the demo's ``grow-capacity`` fault: ``grow`` adds sellers, seller users and chats in the
chat center's database until each capacity measure is ``factor`` times its threshold (the site file's, through
``lookout.demo.site_facts``), ``refresh`` keeps them active, ``shrink`` removes them. The rows are recognised by their
``capacity-`` names."""

from __future__ import annotations

import math
import time

from lookout.demo import db, site_facts


def refresh(chat_db: str) -> None:
    """Mark the added sellers and users active now, so they stay inside the activity windows."""
    with db.connect(chat_db, "demo-grow-capacity") as conn:
        conn.execute("UPDATE seller_users SET last_seen_at = now() WHERE seller_id IN "
                     "(SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%')")
        conn.execute("UPDATE sellers SET last_active_at = now() WHERE name LIKE 'capacity-seller-%'")


def grow(chat_db: str, factor: float) -> None:
    """Sellers, their users and today's chats up to ``factor`` times each capacity threshold of the site."""
    want = {k: math.ceil(v * factor) for k, v in site_facts.capacity_thresholds().items()}
    with db.connect(chat_db, "demo-grow-capacity") as conn, conn.transaction():
        active = conn.execute("SELECT count(*) FROM sellers WHERE is_active").fetchone()[0]
        have = conn.execute("SELECT count(*) FROM sellers WHERE name LIKE 'capacity-seller-%'").fetchone()[0]
        conn.execute(
            "INSERT INTO sellers (name, last_active_at) SELECT 'capacity-seller-' || g, now() "
            "FROM generate_series(%s::int, %s::int) g", (have + 1, have + max(0, want["active_sellers"] - active)))
        conn.execute("UPDATE sellers SET last_active_at = now() WHERE name LIKE 'capacity-seller-%'")
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%' ORDER BY id").fetchall()]
        if not ids:
            return
        seen = conn.execute("SELECT count(*) FROM seller_users WHERE last_seen_at > now() - interval '5 minutes'")\
            .fetchone()[0]
        conn.execute(
            "INSERT INTO seller_users (seller_id, email, last_seen_at) "
            "SELECT (%s::bigint[])[1 + g %% %s], 'capacity-user-' || g || '@demo.example', now() "
            "FROM generate_series(1, %s::int) g", (ids, len(ids), max(0, want["concurrent_users"] - seen)))
        today = conn.execute("SELECT count(*) FROM chats WHERE created_at > now() - interval '24 hours'")\
            .fetchone()[0]
        conn.execute(
            "INSERT INTO chats (seller_id, marketplace, external_id, created_at, last_message_at, analyzed_at) "
            "SELECT (%s::bigint[])[1 + g %% %s], 'wb', 'capacity-' || g || '-' || %s, t, t, t "
            "FROM generate_series(1, %s::int) g, LATERAL (SELECT now() - random() * interval '12 hours' AS t) x",
            (ids, len(ids), int(time.time()), max(0, want["chats_per_day"] - today)))

def shrink(chat_db: str) -> None:
    """Remove every row ``grow`` added."""
    with db.connect(chat_db, "demo-grow-capacity") as conn, conn.transaction():
        cap = "(SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%')"
        conn.execute(f"DELETE FROM messages WHERE seller_id IN {cap}")
        conn.execute(f"DELETE FROM interaction_events WHERE seller_id IN {cap}")
        conn.execute(f"DELETE FROM interactions WHERE seller_id IN {cap}")
        conn.execute(f"DELETE FROM chats WHERE seller_id IN {cap}")
        conn.execute(f"DELETE FROM seller_users WHERE seller_id IN {cap}")
        conn.execute("DELETE FROM sellers WHERE name LIKE 'capacity-seller-%'")
