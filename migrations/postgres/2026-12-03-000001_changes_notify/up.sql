-- Every change-feed row announces itself: `NOTIFY twin_changes` from a trigger, so a change
-- written inside its own transaction (with its audit row) is announced exactly when it
-- commits, and never when it rolls back.
CREATE FUNCTION twin_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('twin_changes', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION twin_changes_notify();
