"""The clerk's status page: served by the running agent on 127.0.0.1 (agent.control), a thin front end over the
agent's facade like the tray. Server-rendered HTML (jinja2 templates in page/templates), no front-end build; a few
lines of script reload the live parts every second. Nothing here is imported until the page is first asked for."""
