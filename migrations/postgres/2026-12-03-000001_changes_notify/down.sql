DROP TRIGGER changes_notify ON changes;
DROP FUNCTION twin_changes_notify();
