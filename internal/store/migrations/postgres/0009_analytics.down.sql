DROP INDEX messages_created;
DROP INDEX conversations_created;
DROP TABLE analytics_daily_unanswered;
DROP TABLE analytics_daily_documents;
DROP TABLE analytics_daily;
