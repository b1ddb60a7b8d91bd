DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE contacts;
DROP TABLE channels;
