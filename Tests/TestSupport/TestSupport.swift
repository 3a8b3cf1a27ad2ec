// The throw-away PostgreSQL server the tests use lives in JobStore (`TemporaryPostgres`), so that
// `ternflux bench pipeline` starts its database with the same code; re-exported here for the tests.
@_exported import JobStore
