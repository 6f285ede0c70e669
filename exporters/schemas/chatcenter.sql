-- Reference schema of the marketplace chat center (FastAPI/Uvicorn, Celery, Wildberries/Ozon sync,
-- DeepSeek analysis, SLA rules). Table names are the platform's; the columns are our reference,
-- documented in docs/schemas.md. The exporters' queries can be overridden where columns differ.
-- Idempotent: safe to run on an existing database.

CREATE TABLE IF NOT EXISTS sellers (
    id             bigserial PRIMARY KEY,              -- the tenant
    name           text        NOT NULL,
    is_active      boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_active_at timestamptz                         -- last request by any of its users
);
CREATE INDEX IF NOT EXISTS sellers_last_active_idx ON sellers (last_active_at);
-- marketplace_sync: the few inactive sellers, hashed once per query instead of a probe per stale row
CREATE INDEX IF NOT EXISTS sellers_inactive_idx ON sellers (id) WHERE NOT is_active;

-- People logged in for a seller; last_seen_at is bumped by the API (concurrent users).
CREATE TABLE IF NOT EXISTS seller_users (
    id           bigserial PRIMARY KEY,
    seller_id    bigint      NOT NULL REFERENCES sellers (id),
    email        text        NOT NULL,
    last_seen_at timestamptz
);
CREATE INDEX IF NOT EXISTS seller_users_last_seen_idx ON seller_users (last_seen_at);

-- Marketplace credentials per seller (the token itself is stored encrypted).
CREATE TABLE IF NOT EXISTS seller_marketplace_accounts (
    id               bigserial PRIMARY KEY,
    seller_id        bigint      NOT NULL REFERENCES sellers (id),
    marketplace      text        NOT NULL CHECK (marketplace IN ('wb', 'ozon')),
    token_encrypted  bytea,
    token_expires_at timestamptz,                      -- WB tokens are JWTs valid 180 days
    is_active        boolean     NOT NULL DEFAULT true,
    UNIQUE (seller_id, marketplace)
);
CREATE INDEX IF NOT EXISTS seller_accounts_expiry_idx ON seller_marketplace_accounts (token_expires_at)
    WHERE is_active;
-- marketplace_sync.token_expiry: per marketplace, the earliest expiry and the range up to the horizon
-- (seller_id included: index-only scans)
CREATE INDEX IF NOT EXISTS seller_accounts_marketplace_expiry_idx
    ON seller_marketplace_accounts (marketplace, token_expires_at) INCLUDE (seller_id) WHERE is_active;
-- marketplace_sync: the few inactive accounts, hashed once per query (sync_state's foreign key below vouches
-- that every other row's account is active)
CREATE INDEX IF NOT EXISTS seller_accounts_inactive_idx ON seller_marketplace_accounts (seller_id, marketplace)
    WHERE NOT is_active;
-- marketplace_sync without that foreign key (a database whose sync_state predates it): "has an active account"
-- per stale or erroring row, an index-only probe (no heap visit)
CREATE INDEX IF NOT EXISTS seller_accounts_active_idx ON seller_marketplace_accounts (seller_id, marketplace)
    WHERE is_active;

-- Written by the sync_all_sellers task: one row per seller, marketplace and kind of data.
CREATE TABLE IF NOT EXISTS sync_state (
    seller_id          bigint      NOT NULL REFERENCES sellers (id),
    marketplace        text        NOT NULL CHECK (marketplace IN ('wb', 'ozon')),
    kind               text        NOT NULL CHECK (kind IN ('chats', 'feedbacks', 'questions')),
    last_success_at    timestamptz,
    last_attempt_at    timestamptz,
    last_error_at      timestamptz,
    last_error         text,
    consecutive_errors integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (seller_id, marketplace, kind),
    -- a row is synced for an account: marketplace_sync then hashes the inactive accounts instead of probing
    -- each counted row's (docs/schemas.md). CREATE TABLE IF NOT EXISTS leaves an existing table as it is: add it
    -- there with ALTER TABLE ... ADD CONSTRAINT sync_state_account_fkey ... NOT VALID, then VALIDATE CONSTRAINT.
    CONSTRAINT sync_state_account_fkey FOREIGN KEY (seller_id, marketplace)
        REFERENCES seller_marketplace_accounts (seller_id, marketplace) ON DELETE CASCADE
);
-- marketplace_sync: the groups, the oldest success, the stale range (seller_id included: index-only scans).
-- An index of the same name created by an earlier version of this file (without INCLUDE) is kept as it is by
-- IF NOT EXISTS: the queries stay correct but visit the heap; drop it and run this file again to cover it.
CREATE INDEX IF NOT EXISTS sync_state_success_idx ON sync_state (marketplace, kind, last_success_at)
    INCLUDE (seller_id);
-- marketplace_sync.sync_lag: erroring sellers and the highest error count, without reading healthy rows
CREATE INDEX IF NOT EXISTS sync_state_errors_idx ON sync_state (marketplace, kind, consecutive_errors)
    INCLUDE (seller_id) WHERE consecutive_errors > 0;

CREATE TABLE IF NOT EXISTS chats (
    id              bigserial PRIMARY KEY,
    seller_id       bigint      NOT NULL REFERENCES sellers (id),
    marketplace     text        NOT NULL CHECK (marketplace IN ('wb', 'ozon')),
    external_id     text        NOT NULL,
    status          text        NOT NULL DEFAULT 'open',   -- open | closed
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz,
    analyzed_at     timestamptz,                           -- set by analyze_pending_chats
    closed_at       timestamptz,
    UNIQUE (seller_id, marketplace, external_id)
);
CREATE INDEX IF NOT EXISTS chats_created_at_idx ON chats (created_at);
CREATE INDEX IF NOT EXISTS chats_last_message_idx ON chats (last_message_at) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS chats_pending_analysis_idx ON chats (created_at) WHERE analyzed_at IS NULL;

CREATE TABLE IF NOT EXISTS messages (
    id         bigserial PRIMARY KEY,
    chat_id    bigint      NOT NULL REFERENCES chats (id),
    seller_id  bigint      NOT NULL,
    direction  text        NOT NULL CHECK (direction IN ('in', 'out')),
    body       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_created_at_idx ON messages (created_at);
CREATE INDEX IF NOT EXISTS messages_chat_idx ON messages (chat_id, created_at);

-- Unified entity: chats, questions and feedbacks that need an answer within an SLA.
CREATE TABLE IF NOT EXISTS interactions (
    id                bigserial PRIMARY KEY,
    seller_id         bigint      NOT NULL REFERENCES sellers (id),
    channel           text        NOT NULL CHECK (channel IN ('chat', 'feedback', 'question')),
    marketplace       text        NOT NULL CHECK (marketplace IN ('wb', 'ozon')),
    external_id       text        NOT NULL,
    chat_id           bigint      REFERENCES chats (id),
    priority          text        NOT NULL DEFAULT 'normal',  -- low | normal | high
    status            text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    sla_due_at        timestamptz,                           -- from sla_rules at creation
    first_response_at timestamptz,
    escalated_at      timestamptz,                           -- set by check_sla_escalation
    closed_at         timestamptz
);
CREATE INDEX IF NOT EXISTS interactions_open_due_idx ON interactions (sla_due_at) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS interactions_created_at_idx ON interactions (created_at);

CREATE TABLE IF NOT EXISTS interaction_events (
    id             bigserial PRIMARY KEY,
    interaction_id bigint      NOT NULL REFERENCES interactions (id),
    seller_id      bigint      NOT NULL,
    event_type     text        NOT NULL,   -- created | answered | escalated | closed
    created_at     timestamptz NOT NULL DEFAULT now(),
    payload        jsonb
);
CREATE INDEX IF NOT EXISTS interaction_events_created_idx ON interaction_events (created_at);

-- Response-time targets. seller_id NULL is the default rule for every seller.
CREATE TABLE IF NOT EXISTS sla_rules (
    id               bigserial PRIMARY KEY,
    seller_id        bigint REFERENCES sellers (id),
    channel          text    NOT NULL CHECK (channel IN ('chat', 'feedback', 'question')),
    priority         text    NOT NULL DEFAULT 'normal',
    response_minutes integer NOT NULL CHECK (response_minutes > 0),
    is_active        boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS runtime_setting (
    key        text PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS customer_profile (
    id                   bigserial PRIMARY KEY,
    seller_id            bigint NOT NULL REFERENCES sellers (id),
    marketplace          text   NOT NULL,
    external_customer_id text   NOT NULL,
    UNIQUE (seller_id, marketplace, external_customer_id)
);

CREATE TABLE IF NOT EXISTS product_cache (
    nm_id      bigint PRIMARY KEY,
    card       jsonb,
    fetched_at timestamptz NOT NULL DEFAULT now()   -- cache TTL 24 h
);

CREATE TABLE IF NOT EXISTS leads (
    id         bigserial PRIMARY KEY,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per LLM call, written by the application from the provider's `usage` object.
-- The llm_spend exporter reads it incrementally by id.
CREATE TABLE IF NOT EXISTS llm_usage (
    id                      bigserial PRIMARY KEY,
    created_at              timestamptz NOT NULL DEFAULT now(),
    provider                text        NOT NULL,   -- deepseek | elevenlabs | gemini ...
    model                   text        NOT NULL,   -- as sent to the API (aliases resolved by the price table)
    feature                 text        NOT NULL,   -- chat_analysis | draft_reply | quality ...
    seller_id               bigint,
    input_cache_hit_tokens  integer     NOT NULL DEFAULT 0,
    input_cache_miss_tokens integer     NOT NULL DEFAULT 0,
    output_tokens           integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS llm_usage_created_at_idx ON llm_usage (created_at);
