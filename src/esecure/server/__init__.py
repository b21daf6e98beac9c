"""The reference bank side: EST enrolment with the project's CA, the portal, the update
repository hosting. Never imports the launcher."""
