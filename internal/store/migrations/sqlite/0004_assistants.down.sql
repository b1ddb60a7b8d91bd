DROP INDEX messages_reply_to;
ALTER TABLE messages DROP COLUMN meta;
ALTER TABLE messages DROP COLUMN reply_to;
DROP TABLE assistants;
