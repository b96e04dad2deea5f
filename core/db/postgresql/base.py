"""The PostgreSQL backend (ENGINE `core.db.postgresql`): django_prometheus's, whose cursors count queries for /metrics, with the pool failing fast.

With psycopg's pool configured (DATABASE_POOL_MAX_SIZE > 0), the pool is built as Django builds it
but makes its connections with core.dbpool.GatedConnection and checks the ones it hands out with
core.dbpool.check_connection, and a checkout asks core.dbpool.DATABASE_GATE first: while the pool's
last attempt to reach PostgreSQL failed, a request fails at once (503 SERVICE_UNAVAILABLE through
core.exceptions) instead of waiting out DATABASE_POOL_TIMEOUT for connections the outage broke.
The pool checks every connection it hands out (CONN_HEALTH_CHECKS has no say: the gate needs the
check). Without a pool it is django_prometheus's backend unchanged.
"""

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django_prometheus.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from core.dbpool import DATABASE_GATE, DatabaseAway, GatedConnection, check_connection


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        """Django 5.2's pool (same options, opened at the first checkout), with our connection class and check."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if not options or self.alias == NO_DB_ALIAS or self.alias in self._connection_pools:
            return super().pool
        if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
            raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
        connect_kwargs = self.get_connection_params()
        connect_kwargs["autocommit"] = True  # as Django's: it sets autocommit itself later
        pool = ConnectionPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,
            check=check_connection,
            connection_class=GatedConnection,
            **({} if options is True else options),
        )
        self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]

    def get_new_connection(self, conn_params):
        if (pool := self.pool) is None:
            return super().get_new_connection(conn_params)
        DATABASE_GATE.check(pool)
        try:
            return super().get_new_connection(conn_params)
        except DatabaseAway as away:
            raise psycopg.OperationalError(str(away)) from None
