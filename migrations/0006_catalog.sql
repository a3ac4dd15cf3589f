-- The song catalogue. A song's id comes from its content (artist and title
-- for UltraStar files, the melody for MIDI files), so importing a file again
-- from another path updates the song. `parts` holds each part's name and
-- pitch profile (the share of its sung time per semitone), the facts that
-- ranking reads; the columns beside it are for listing and filtering.
CREATE TABLE songs (
    id           TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    artist       TEXT NOT NULL,
    language     TEXT,
    genre        TEXT,
    year         INTEGER,
    original_key TEXT,
    licence      TEXT,
    source       TEXT NOT NULL CHECK (source IN ('bundled', 'ultrastar', 'midi')),
    duet         BOOLEAN NOT NULL,
    lowest       SMALLINT NOT NULL CHECK (lowest BETWEEN 0 AND 127),
    highest      SMALLINT NOT NULL CHECK (highest BETWEEN lowest AND 127),
    parts        JSONB NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX songs_by_title ON songs (lower(title), id);

-- Bumped by every change to `songs` (an import that changes nothing leaves
-- it alone): a process holding a snapshot of the catalogue compares one
-- number to know whether to read it again.
CREATE TABLE catalog_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    revision  BIGINT NOT NULL
);
INSERT INTO catalog_revision VALUES (TRUE, 0);

CREATE FUNCTION bump_catalog_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_revision SET revision = revision + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER songs_changed AFTER INSERT OR UPDATE OR DELETE ON songs
    FOR EACH ROW EXECUTE FUNCTION bump_catalog_revision();
CREATE TRIGGER songs_truncated AFTER TRUNCATE ON songs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_revision();
