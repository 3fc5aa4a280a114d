"""Web pages: the customer self-service portal (server-rendered Jinja2, no build step)."""
