"""The Blooio tables' names, and the column whose day names the partition of a row."""

CHATS = "chats"
MESSAGES = "messages"
REPLY_TIMES = "reply_times"
CHAT_RESPONSE_LAG = "chat_response_lag"
RESPONSE_SUMMARY = "response_summary"
CURRENT_CHATS = "current_chats"
#: The tables that the API-reading op materializes together.
API_TABLES = (CHATS, MESSAGES, REPLY_TIMES)
#: Each partitioned table's column whose day names the partition a row belongs to.
DAY_COLUMNS = {
    CHATS: "last_message_time",
    MESSAGES: "time_sent",
    REPLY_TIMES: "turn_started_at",
    CHAT_RESPONSE_LAG: "last_message_time",
    RESPONSE_SUMMARY: "day",
}
