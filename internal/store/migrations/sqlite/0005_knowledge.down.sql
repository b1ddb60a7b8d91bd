DROP TABLE knowledge_state;
DROP TABLE chunks;
DROP TABLE documents;
