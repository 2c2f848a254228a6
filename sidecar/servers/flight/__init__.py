"""Arrow Flight SQL: ADBC, the Flight SQL JDBC/ODBC drivers and `sidecar sql` connect here."""
