"""What people look at: a recruiter's agenda, a team lead's report, readable run output.

Views read the state (never the CRM) and render it for a person; the commands that show
them live in connector/commands/.
"""
