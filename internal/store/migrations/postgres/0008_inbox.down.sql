DROP INDEX conversations_activity;
DROP TABLE canned_responses;
DROP TABLE conversation_reads;
