"""The bare ceiling of `make bench` (issue 17): Django + DRF + simplejwt and nothing else.

Served by its own settings module (config.settings.bare: no middleware, only auth,
contenttypes, DRF, simplejwt and this app; the benchmark's database and cache) with the same
gunicorn binary, gunicorn.conf.py and worker class as the project, in the same run. Its one
view answers the bearer's id and e-mail, the user row read from the project's own table.
Never mounted by the project's URLconf; never served in production.
"""
