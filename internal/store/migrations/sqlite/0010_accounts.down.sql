DROP TABLE signups;
DROP TABLE password_resets;
