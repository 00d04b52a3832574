"""The SQLite schema of the hub's store, as ordered migrations (hub/store.py applies them)."""

from __future__ import annotations

# Ordered migrations; the index + 1 is the schema version they bring the file to.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cameras (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        site         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        onvif_url    TEXT NOT NULL,
        street       TEXT NOT NULL DEFAULT '',
        lat          REAL,
        lon          REAL,
        manufacturer TEXT,
        model        TEXT,
        firmware     TEXT,
        state        TEXT NOT NULL DEFAULT 'unknown',
        reason       TEXT NOT NULL DEFAULT '',
        detail       TEXT NOT NULL DEFAULT '',
        last_seen    TEXT,
        changed_at   TEXT
    );
    CREATE TABLE health_transitions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id  TEXT NOT NULL REFERENCES cameras(id),
        at         TEXT NOT NULL,
        old_state  TEXT NOT NULL,
        new_state  TEXT NOT NULL,
        reason     TEXT NOT NULL,
        detail     TEXT NOT NULL
    );
    CREATE INDEX health_transitions_camera_at ON health_transitions(camera_id, at DESC);
    """,
    # 2: patrol cars, their fix state and their track (downsampled, see TRACK_MIN_INTERVAL_S).
    """
    CREATE TABLE vehicles (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        site         TEXT NOT NULL,
        camera       TEXT,
        source       TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'no device',
        detail       TEXT NOT NULL DEFAULT '',
        changed_at   TEXT
    );
    CREATE TABLE track_points (
        vehicle_id   TEXT NOT NULL REFERENCES vehicles(id),
        at           TEXT NOT NULL,
        lat          REAL NOT NULL,
        lon          REAL NOT NULL,
        speed        REAL,
        track        REAL,
        mode         INTEGER NOT NULL,
        PRIMARY KEY (vehicle_id, at)
    );
    CREATE INDEX track_points_at ON track_points(at);
    """,
    # 3: which check (onvif / stream) saw the cause of a camera's state and transitions.
    """
    ALTER TABLE cameras ADD COLUMN side TEXT NOT NULL DEFAULT '';
    ALTER TABLE health_transitions ADD COLUMN side TEXT NOT NULL DEFAULT '';
    """,
    # 4: licence-plate reads (with a trigram index for partial search), alerts, wanted
    # plates and the audit log (hub/read_store.py, hub/read_search.py).
    """
    CREATE TABLE reads (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at           TEXT NOT NULL,
        camera_id    TEXT NOT NULL,
        plate        TEXT NOT NULL,
        normalized   TEXT NOT NULL,
        canonical    TEXT NOT NULL,
        source       TEXT NOT NULL,
        confidence   REAL,
        country      TEXT,
        region       TEXT,
        unit         TEXT,
        lat          REAL,
        lon          REAL,
        geotag       TEXT,
        direction    TEXT,
        images       TEXT NOT NULL DEFAULT '[]',
        received_at  TEXT
    );
    CREATE INDEX reads_at ON reads(at);
    CREATE INDEX reads_camera_at ON reads(camera_id, at);
    CREATE INDEX reads_canonical ON reads(canonical, at);
    -- "^" + canonical + "$" per read (rowid = read id): trigrams of fragments, starts, ends.
    CREATE VIRTUAL TABLE reads_fts USING fts5(
        text, content='', tokenize='trigram case_sensitive 1', detail='none'
    );
    -- Newest read time per block of ids: lets a search walk back from the newest reads
    -- and stop early (hub.read_search). The characters plates use, for `?` expansion.
    CREATE TABLE read_blocks (
        block        INTEGER PRIMARY KEY,
        max_at       TEXT NOT NULL
    );
    CREATE TABLE read_alphabet (
        ch           TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        read_id      INTEGER NOT NULL REFERENCES reads(id),
        state        TEXT NOT NULL,
        priority     INTEGER NOT NULL,
        raised_at    TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        hit          TEXT NOT NULL,
        other_hits   TEXT NOT NULL DEFAULT '[]',
        duplicates   INTEGER NOT NULL DEFAULT 0,
        last_read_id INTEGER,
        reason       TEXT,
        reason_text  TEXT NOT NULL DEFAULT '',
        actor        TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX alerts_order ON alerts(priority DESC, raised_at DESC);
    CREATE INDEX alerts_state_updated ON alerts(state, updated_at);
    CREATE INDEX alerts_read ON alerts(read_id);
    CREATE TABLE wanted (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        plate        TEXT NOT NULL,
        reason       TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        priority     INTEGER NOT NULL
    );
    CREATE INDEX wanted_expires ON wanted(expires_at);
    CREATE TABLE audit (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        at           TEXT NOT NULL,
        actor        TEXT NOT NULL,
        action       TEXT NOT NULL,
        target       TEXT NOT NULL,
        detail       TEXT NOT NULL DEFAULT '',
        data         TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_target ON audit(target, at);
    """,
    # 5: maintenance per camera (until when, why, who): a restarted hub keeps it.
    """
    ALTER TABLE cameras ADD COLUMN maintenance_since TEXT;
    ALTER TABLE cameras ADD COLUMN maintenance_until TEXT;
    ALTER TABLE cameras ADD COLUMN maintenance_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE cameras ADD COLUMN maintenance_actor TEXT NOT NULL DEFAULT '';
    """,
)
