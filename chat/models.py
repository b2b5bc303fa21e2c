"""Room messages, presence and attendance: built by the Live rooms issue."""
