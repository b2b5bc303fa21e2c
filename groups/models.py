"""Groups, sessions and enrollments: built by the Groups issue."""
