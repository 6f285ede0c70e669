-- Reference schema of the voice-agent platform (Flask/Gunicorn, ElevenLabs conversations billed
-- as credits, 1 credit = 1 second). Table names are the platform's; the columns are our reference,
-- documented in docs/schemas.md. The exporters' queries can be overridden where columns differ.
-- Idempotent: safe to run on an existing database.

CREATE TABLE IF NOT EXISTS customer_agents (
    id                  bigserial PRIMARY KEY,
    customer_id         bigint      NOT NULL,              -- the tenant
    elevenlabs_agent_id text        NOT NULL UNIQUE,
    name                text        NOT NULL,
    webhooks_configured boolean     NOT NULL DEFAULT true, -- both conversation:init and :end set up
    is_active           boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS customer_agents_customer_idx ON customer_agents (customer_id);

CREATE TABLE IF NOT EXISTS agent_licenses (
    id          bigserial PRIMARY KEY,
    agent_id    bigint      NOT NULL REFERENCES customer_agents (id),
    customer_id bigint      NOT NULL,
    valid_from  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz
);

-- Balance per customer, in credits (1 credit = 1 second of conversation).
CREATE TABLE IF NOT EXISTS customer_credits (
    customer_id     bigint      PRIMARY KEY,
    balance_credits bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS customer_credits_negative_idx ON customer_credits (customer_id) WHERE balance_credits < 0;

-- One row per ElevenLabs conversation. started_at comes from conversation:init; ended_at and
-- duration_seconds from conversation:end / post_call_transcription (metadata.call_duration_secs);
-- credits_charged is set when the customer is charged (NULL = not charged yet).
CREATE TABLE IF NOT EXISTS conversations (
    id               bigserial PRIMARY KEY,
    conversation_id  text        NOT NULL UNIQUE,          -- ElevenLabs conversation id
    customer_id      bigint      NOT NULL,
    agent_id         bigint      NOT NULL REFERENCES customer_agents (id),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    duration_seconds integer,
    credits_charged  integer,
    charged_at       timestamptz,
    status           text        NOT NULL DEFAULT 'in_progress'  -- in_progress | done | failed
);
-- The reconciliation queries scan only the look-back window through these indexes.
CREATE INDEX IF NOT EXISTS conversations_started_at_idx ON conversations (started_at);
CREATE INDEX IF NOT EXISTS conversations_ended_at_idx ON conversations (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS conversations_open_idx ON conversations (started_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS conversations_customer_started_idx ON conversations (customer_id, started_at);
-- Candidates of the credits collector's not_charged and charge_mismatch reasons (tiny partial indexes).
CREATE INDEX IF NOT EXISTS conversations_uncharged_idx ON conversations (started_at) WHERE credits_charged IS NULL;
CREATE INDEX IF NOT EXISTS conversations_charge_differs_idx ON conversations (started_at)
    WHERE credits_charged <> duration_seconds;

-- Ledger of credit movements (charges are negative).
CREATE TABLE IF NOT EXISTS credit_transactions (
    id              bigserial PRIMARY KEY,
    customer_id     bigint      NOT NULL,
    conversation_id bigint      REFERENCES conversations (id),
    delta_credits   bigint      NOT NULL,
    reason          text        NOT NULL,                  -- conversation | top_up | adjustment
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS credit_transactions_created_idx ON credit_transactions (created_at);
CREATE INDEX IF NOT EXISTS credit_transactions_conversation_idx ON credit_transactions (conversation_id);

CREATE TABLE IF NOT EXISTS business_hours (
    id          bigserial PRIMARY KEY,
    agent_id    bigint   NOT NULL REFERENCES customer_agents (id),
    customer_id bigint   NOT NULL,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    opens_at    time     NOT NULL,
    closes_at   time     NOT NULL
);

CREATE TABLE IF NOT EXISTS google_oauth_tokens (
    customer_id bigint      PRIMARY KEY,
    expires_at  timestamptz,
    revoked     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS waitlist_entries (
    id          bigserial PRIMARY KEY,
    customer_id bigint      NOT NULL,
    agent_id    bigint      REFERENCES customer_agents (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
