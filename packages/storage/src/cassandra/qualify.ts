/**
 * Prefixes the table of a DML statement with the keyspace. A prepared statement whose table
 * is unqualified is bound to whatever keyspace its connection had when it was prepared, and
 * Cassandra warns that executing it elsewhere "will return unexpected results"; qualified
 * names make every statement mean one table, however many keyspaces share the cluster.
 */
export const qualify = (keyspace: string, query: string): string =>
  query.replace(/\b(FROM|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)\b(?!\.)/gi, `$1 ${keyspace}.$2`)
