-- The PostgreSQL 15 system catalog as the shadow DuckDB holds it: every relation clients read,
-- with PostgreSQL's own columns (oid -> BIGINT, name/"char"/reg* -> VARCHAR, vectors -> lists),
-- and the fixed rows of pg_type, pg_am, pg_namespace, pg_class for the catalog itself.
-- catalog.py adds the rows that describe the datasets and views.
CREATE SCHEMA shadow_pg_catalog;
CREATE SCHEMA shadow_information_schema;
CREATE TABLE shadow_pg_catalog.pg_aggregate (aggfnoid VARCHAR, aggkind VARCHAR, aggnumdirectargs SMALLINT DEFAULT 0, aggtransfn VARCHAR, aggfinalfn VARCHAR, aggcombinefn VARCHAR, aggserialfn VARCHAR, aggdeserialfn VARCHAR, aggmtransfn VARCHAR, aggminvtransfn VARCHAR, aggmfinalfn VARCHAR, aggfinalextra BOOLEAN DEFAULT false, aggmfinalextra BOOLEAN DEFAULT false, aggfinalmodify VARCHAR, aggmfinalmodify VARCHAR, aggsortop UINTEGER DEFAULT 0, aggtranstype UINTEGER DEFAULT 0, aggtransspace INTEGER DEFAULT 0, aggmtranstype UINTEGER DEFAULT 0, aggmtransspace INTEGER DEFAULT 0, agginitval VARCHAR, aggminitval VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_am (oid UINTEGER DEFAULT 0, amname VARCHAR, amhandler VARCHAR, amtype VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_amop (oid UINTEGER DEFAULT 0, amopfamily UINTEGER DEFAULT 0, amoplefttype UINTEGER DEFAULT 0, amoprighttype UINTEGER DEFAULT 0, amopstrategy SMALLINT DEFAULT 0, amoppurpose VARCHAR, amopopr UINTEGER DEFAULT 0, amopmethod UINTEGER DEFAULT 0, amopsortfamily UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_amproc (oid UINTEGER DEFAULT 0, amprocfamily UINTEGER DEFAULT 0, amproclefttype UINTEGER DEFAULT 0, amprocrighttype UINTEGER DEFAULT 0, amprocnum SMALLINT DEFAULT 0, amproc VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_attrdef (oid UINTEGER DEFAULT 0, adrelid UINTEGER DEFAULT 0, adnum SMALLINT DEFAULT 0, adbin VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_attribute (attrelid UINTEGER DEFAULT 0, attname VARCHAR, atttypid UINTEGER DEFAULT 0, attstattarget INTEGER DEFAULT -1, attlen SMALLINT DEFAULT 0, attnum SMALLINT DEFAULT 0, attndims INTEGER DEFAULT 0, attcacheoff INTEGER DEFAULT 0, atttypmod INTEGER DEFAULT -1, attbyval BOOLEAN DEFAULT false, attalign VARCHAR DEFAULT 'i', attstorage VARCHAR DEFAULT 'p', attcompression VARCHAR DEFAULT '', attnotnull BOOLEAN DEFAULT false, atthasdef BOOLEAN DEFAULT false, atthasmissing BOOLEAN DEFAULT false, attidentity VARCHAR DEFAULT '', attgenerated VARCHAR DEFAULT '', attisdropped BOOLEAN DEFAULT false, attislocal BOOLEAN DEFAULT true, attinhcount INTEGER DEFAULT 0, attcollation UINTEGER DEFAULT 0, attacl VARCHAR[], attoptions VARCHAR[], attfdwoptions VARCHAR[], attmissingval VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_auth_members (roleid UINTEGER DEFAULT 0, member UINTEGER DEFAULT 0, grantor UINTEGER DEFAULT 0, admin_option BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_authid (oid UINTEGER DEFAULT 0, rolname VARCHAR, rolsuper BOOLEAN DEFAULT false, rolinherit BOOLEAN DEFAULT false, rolcreaterole BOOLEAN DEFAULT false, rolcreatedb BOOLEAN DEFAULT false, rolcanlogin BOOLEAN DEFAULT false, rolreplication BOOLEAN DEFAULT false, rolbypassrls BOOLEAN DEFAULT false, rolconnlimit INTEGER DEFAULT 0, rolpassword VARCHAR, rolvaliduntil TIMESTAMPTZ);
CREATE TABLE shadow_pg_catalog.pg_available_extensions (name VARCHAR, default_version VARCHAR, installed_version VARCHAR, comment VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_cast (oid UINTEGER DEFAULT 0, castsource UINTEGER DEFAULT 0, casttarget UINTEGER DEFAULT 0, castfunc UINTEGER DEFAULT 0, castcontext VARCHAR, castmethod VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_class (oid UINTEGER DEFAULT 0, relname VARCHAR, relnamespace UINTEGER DEFAULT 0, reltype UINTEGER DEFAULT 0, reloftype UINTEGER DEFAULT 0, relowner UINTEGER DEFAULT 10, relam UINTEGER DEFAULT 0, relfilenode UINTEGER DEFAULT 0, reltablespace UINTEGER DEFAULT 0, relpages INTEGER DEFAULT 0, reltuples FLOAT DEFAULT -1, relallvisible INTEGER DEFAULT 0, reltoastrelid UINTEGER DEFAULT 0, relhasindex BOOLEAN DEFAULT false, relisshared BOOLEAN DEFAULT false, relpersistence VARCHAR DEFAULT 'p', relkind VARCHAR, relnatts SMALLINT DEFAULT 0, relchecks SMALLINT DEFAULT 0, relhasrules BOOLEAN DEFAULT false, relhastriggers BOOLEAN DEFAULT false, relhassubclass BOOLEAN DEFAULT false, relrowsecurity BOOLEAN DEFAULT false, relforcerowsecurity BOOLEAN DEFAULT false, relispopulated BOOLEAN DEFAULT true, relreplident VARCHAR DEFAULT 'n', relispartition BOOLEAN DEFAULT false, relrewrite UINTEGER DEFAULT 0, relfrozenxid BIGINT DEFAULT 0, relminmxid BIGINT DEFAULT 0, relacl VARCHAR[], reloptions VARCHAR[], relpartbound VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_collation (oid UINTEGER DEFAULT 0, collname VARCHAR, collnamespace UINTEGER DEFAULT 0, collowner UINTEGER DEFAULT 0, collprovider VARCHAR, collisdeterministic BOOLEAN DEFAULT false, collencoding INTEGER DEFAULT 0, collcollate VARCHAR, collctype VARCHAR, colliculocale VARCHAR, collversion VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_constraint (oid UINTEGER DEFAULT 0, conname VARCHAR, connamespace UINTEGER DEFAULT 0, contype VARCHAR, condeferrable BOOLEAN DEFAULT false, condeferred BOOLEAN DEFAULT false, convalidated BOOLEAN DEFAULT false, conrelid UINTEGER DEFAULT 0, contypid UINTEGER DEFAULT 0, conindid UINTEGER DEFAULT 0, conparentid UINTEGER DEFAULT 0, confrelid UINTEGER DEFAULT 0, confupdtype VARCHAR, confdeltype VARCHAR, confmatchtype VARCHAR, conislocal BOOLEAN DEFAULT false, coninhcount INTEGER DEFAULT 0, connoinherit BOOLEAN DEFAULT false, conkey SMALLINT[], confkey SMALLINT[], conpfeqop UINTEGER[], conppeqop UINTEGER[], conffeqop UINTEGER[], confdelsetcols SMALLINT[], conexclop UINTEGER[], conbin VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_conversion (oid UINTEGER DEFAULT 0, conname VARCHAR, connamespace UINTEGER DEFAULT 0, conowner UINTEGER DEFAULT 0, conforencoding INTEGER DEFAULT 0, contoencoding INTEGER DEFAULT 0, conproc VARCHAR, condefault BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_cursors (name VARCHAR, statement VARCHAR, is_holdable BOOLEAN DEFAULT false, is_binary BOOLEAN DEFAULT false, is_scrollable BOOLEAN DEFAULT false, creation_time TIMESTAMPTZ);
CREATE TABLE shadow_pg_catalog.pg_database (oid UINTEGER DEFAULT 0, datname VARCHAR, datdba UINTEGER DEFAULT 0, encoding INTEGER DEFAULT 0, datlocprovider VARCHAR, datistemplate BOOLEAN DEFAULT false, datallowconn BOOLEAN DEFAULT false, datconnlimit INTEGER DEFAULT 0, datfrozenxid BIGINT DEFAULT 0, datminmxid BIGINT DEFAULT 0, dattablespace UINTEGER DEFAULT 0, datcollate VARCHAR, datctype VARCHAR, daticulocale VARCHAR, datcollversion VARCHAR, datacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_default_acl (oid UINTEGER DEFAULT 0, defaclrole UINTEGER DEFAULT 0, defaclnamespace UINTEGER DEFAULT 0, defaclobjtype VARCHAR, defaclacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_depend (classid UINTEGER DEFAULT 0, objid UINTEGER DEFAULT 0, objsubid INTEGER DEFAULT 0, refclassid UINTEGER DEFAULT 0, refobjid UINTEGER DEFAULT 0, refobjsubid INTEGER DEFAULT 0, deptype VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_description (objoid UINTEGER DEFAULT 0, classoid UINTEGER DEFAULT 0, objsubid INTEGER DEFAULT 0, description VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_enum (oid UINTEGER DEFAULT 0, enumtypid UINTEGER DEFAULT 0, enumsortorder FLOAT DEFAULT 0, enumlabel VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_event_trigger (oid UINTEGER DEFAULT 0, evtname VARCHAR, evtevent VARCHAR, evtowner UINTEGER DEFAULT 0, evtfoid UINTEGER DEFAULT 0, evtenabled VARCHAR, evttags VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_extension (oid UINTEGER DEFAULT 0, extname VARCHAR, extowner UINTEGER DEFAULT 0, extnamespace UINTEGER DEFAULT 0, extrelocatable BOOLEAN DEFAULT false, extversion VARCHAR, extconfig UINTEGER[], extcondition VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_foreign_data_wrapper (oid UINTEGER DEFAULT 0, fdwname VARCHAR, fdwowner UINTEGER DEFAULT 0, fdwhandler UINTEGER DEFAULT 0, fdwvalidator UINTEGER DEFAULT 0, fdwacl VARCHAR[], fdwoptions VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_foreign_server (oid UINTEGER DEFAULT 0, srvname VARCHAR, srvowner UINTEGER DEFAULT 0, srvfdw UINTEGER DEFAULT 0, srvtype VARCHAR, srvversion VARCHAR, srvacl VARCHAR[], srvoptions VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_foreign_table (ftrelid UINTEGER DEFAULT 0, ftserver UINTEGER DEFAULT 0, ftoptions VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_group (groname VARCHAR, grosysid UINTEGER DEFAULT 0, grolist UINTEGER[]);
CREATE TABLE shadow_pg_catalog.pg_index (indexrelid UINTEGER DEFAULT 0, indrelid UINTEGER DEFAULT 0, indnatts SMALLINT DEFAULT 0, indnkeyatts SMALLINT DEFAULT 0, indisunique BOOLEAN DEFAULT false, indnullsnotdistinct BOOLEAN DEFAULT false, indisprimary BOOLEAN DEFAULT false, indisexclusion BOOLEAN DEFAULT false, indimmediate BOOLEAN DEFAULT false, indisclustered BOOLEAN DEFAULT false, indisvalid BOOLEAN DEFAULT false, indcheckxmin BOOLEAN DEFAULT false, indisready BOOLEAN DEFAULT false, indislive BOOLEAN DEFAULT false, indisreplident BOOLEAN DEFAULT false, indkey SMALLINT[], indcollation UINTEGER[], indclass UINTEGER[], indoption SMALLINT[], indexprs VARCHAR, indpred VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_indexes (schemaname VARCHAR, tablename VARCHAR, indexname VARCHAR, tablespace VARCHAR, indexdef VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_inherits (inhrelid UINTEGER DEFAULT 0, inhparent UINTEGER DEFAULT 0, inhseqno INTEGER DEFAULT 0, inhdetachpending BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_init_privs (objoid UINTEGER DEFAULT 0, classoid UINTEGER DEFAULT 0, objsubid INTEGER DEFAULT 0, privtype VARCHAR, initprivs VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_language (oid UINTEGER DEFAULT 0, lanname VARCHAR, lanowner UINTEGER DEFAULT 0, lanispl BOOLEAN DEFAULT false, lanpltrusted BOOLEAN DEFAULT false, lanplcallfoid UINTEGER DEFAULT 0, laninline UINTEGER DEFAULT 0, lanvalidator UINTEGER DEFAULT 0, lanacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_largeobject_metadata (oid UINTEGER DEFAULT 0, lomowner UINTEGER DEFAULT 0, lomacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_locks (locktype VARCHAR, database UINTEGER DEFAULT 0, relation UINTEGER DEFAULT 0, page INTEGER DEFAULT 0, tuple SMALLINT DEFAULT 0, virtualxid VARCHAR, transactionid BIGINT DEFAULT 0, classid UINTEGER DEFAULT 0, objid UINTEGER DEFAULT 0, objsubid SMALLINT DEFAULT 0, virtualtransaction VARCHAR, pid INTEGER DEFAULT 0, mode VARCHAR, granted BOOLEAN DEFAULT false, fastpath BOOLEAN DEFAULT false, waitstart TIMESTAMPTZ);
CREATE TABLE shadow_pg_catalog.pg_matviews (schemaname VARCHAR, matviewname VARCHAR, matviewowner VARCHAR, tablespace VARCHAR, hasindexes BOOLEAN DEFAULT false, ispopulated BOOLEAN DEFAULT false, definition VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_namespace (oid UINTEGER DEFAULT 0, nspname VARCHAR, nspowner UINTEGER DEFAULT 10, nspacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_opclass (oid UINTEGER DEFAULT 0, opcmethod UINTEGER DEFAULT 0, opcname VARCHAR, opcnamespace UINTEGER DEFAULT 0, opcowner UINTEGER DEFAULT 0, opcfamily UINTEGER DEFAULT 0, opcintype UINTEGER DEFAULT 0, opcdefault BOOLEAN DEFAULT false, opckeytype UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_operator (oid UINTEGER DEFAULT 0, oprname VARCHAR, oprnamespace UINTEGER DEFAULT 0, oprowner UINTEGER DEFAULT 0, oprkind VARCHAR, oprcanmerge BOOLEAN DEFAULT false, oprcanhash BOOLEAN DEFAULT false, oprleft UINTEGER DEFAULT 0, oprright UINTEGER DEFAULT 0, oprresult UINTEGER DEFAULT 0, oprcom UINTEGER DEFAULT 0, oprnegate UINTEGER DEFAULT 0, oprcode VARCHAR, oprrest VARCHAR, oprjoin VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_opfamily (oid UINTEGER DEFAULT 0, opfmethod UINTEGER DEFAULT 0, opfname VARCHAR, opfnamespace UINTEGER DEFAULT 0, opfowner UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_partitioned_table (partrelid UINTEGER DEFAULT 0, partstrat VARCHAR, partnatts SMALLINT DEFAULT 0, partdefid UINTEGER DEFAULT 0, partattrs SMALLINT[], partclass UINTEGER[], partcollation UINTEGER[], partexprs VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_policy (oid UINTEGER DEFAULT 0, polname VARCHAR, polrelid UINTEGER DEFAULT 0, polcmd VARCHAR, polpermissive BOOLEAN DEFAULT false, polroles UINTEGER[], polqual VARCHAR, polwithcheck VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_prepared_statements (name VARCHAR, statement VARCHAR, prepare_time TIMESTAMPTZ, parameter_types VARCHAR[], from_sql BOOLEAN DEFAULT false, generic_plans BIGINT DEFAULT 0, custom_plans BIGINT DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_proc (oid UINTEGER DEFAULT 0, proname VARCHAR, pronamespace UINTEGER DEFAULT 0, proowner UINTEGER DEFAULT 0, prolang UINTEGER DEFAULT 0, procost FLOAT DEFAULT 0, prorows FLOAT DEFAULT 0, provariadic UINTEGER DEFAULT 0, prosupport VARCHAR, prokind VARCHAR, prosecdef BOOLEAN DEFAULT false, proleakproof BOOLEAN DEFAULT false, proisstrict BOOLEAN DEFAULT false, proretset BOOLEAN DEFAULT false, provolatile VARCHAR, proparallel VARCHAR, pronargs SMALLINT DEFAULT 0, pronargdefaults SMALLINT DEFAULT 0, prorettype UINTEGER DEFAULT 0, proargtypes UINTEGER[], proallargtypes UINTEGER[], proargmodes VARCHAR[], proargnames VARCHAR[], proargdefaults VARCHAR, protrftypes UINTEGER[], prosrc VARCHAR, probin VARCHAR, prosqlbody VARCHAR, proconfig VARCHAR[], proacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_publication (oid UINTEGER DEFAULT 0, pubname VARCHAR, pubowner UINTEGER DEFAULT 0, puballtables BOOLEAN DEFAULT false, pubinsert BOOLEAN DEFAULT false, pubupdate BOOLEAN DEFAULT false, pubdelete BOOLEAN DEFAULT false, pubtruncate BOOLEAN DEFAULT false, pubviaroot BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_publication_namespace (oid UINTEGER DEFAULT 0, pnpubid UINTEGER DEFAULT 0, pnnspid UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_publication_rel (oid UINTEGER DEFAULT 0, prpubid UINTEGER DEFAULT 0, prrelid UINTEGER DEFAULT 0, prqual VARCHAR, prattrs SMALLINT[]);
CREATE TABLE shadow_pg_catalog.pg_range (rngtypid UINTEGER DEFAULT 0, rngsubtype UINTEGER DEFAULT 0, rngmultitypid UINTEGER DEFAULT 0, rngcollation UINTEGER DEFAULT 0, rngsubopc UINTEGER DEFAULT 0, rngcanonical VARCHAR, rngsubdiff VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_rewrite (oid UINTEGER DEFAULT 0, rulename VARCHAR, ev_class UINTEGER DEFAULT 0, ev_type VARCHAR, ev_enabled VARCHAR, is_instead BOOLEAN DEFAULT false, ev_qual VARCHAR, ev_action VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_roles (rolname VARCHAR, rolsuper BOOLEAN DEFAULT false, rolinherit BOOLEAN DEFAULT false, rolcreaterole BOOLEAN DEFAULT false, rolcreatedb BOOLEAN DEFAULT false, rolcanlogin BOOLEAN DEFAULT false, rolreplication BOOLEAN DEFAULT false, rolconnlimit INTEGER DEFAULT 0, rolpassword VARCHAR, rolvaliduntil TIMESTAMPTZ, rolbypassrls BOOLEAN DEFAULT false, rolconfig VARCHAR[], oid UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_seclabel (objoid UINTEGER DEFAULT 0, classoid UINTEGER DEFAULT 0, objsubid INTEGER DEFAULT 0, provider VARCHAR, label VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_sequence (seqrelid UINTEGER DEFAULT 0, seqtypid UINTEGER DEFAULT 0, seqstart BIGINT DEFAULT 0, seqincrement BIGINT DEFAULT 0, seqmax BIGINT DEFAULT 0, seqmin BIGINT DEFAULT 0, seqcache BIGINT DEFAULT 0, seqcycle BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_sequences (schemaname VARCHAR, sequencename VARCHAR, sequenceowner VARCHAR, data_type VARCHAR, start_value BIGINT DEFAULT 0, min_value BIGINT DEFAULT 0, max_value BIGINT DEFAULT 0, increment_by BIGINT DEFAULT 0, cycle BOOLEAN DEFAULT false, cache_size BIGINT DEFAULT 0, last_value BIGINT DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_settings (name VARCHAR, setting VARCHAR, unit VARCHAR, category VARCHAR, short_desc VARCHAR, extra_desc VARCHAR, context VARCHAR, vartype VARCHAR, source VARCHAR, min_val VARCHAR, max_val VARCHAR, enumvals VARCHAR[], boot_val VARCHAR, reset_val VARCHAR, sourcefile VARCHAR, sourceline INTEGER DEFAULT 0, pending_restart BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_shadow (usename VARCHAR, usesysid UINTEGER DEFAULT 0, usecreatedb BOOLEAN DEFAULT false, usesuper BOOLEAN DEFAULT false, userepl BOOLEAN DEFAULT false, usebypassrls BOOLEAN DEFAULT false, passwd VARCHAR, valuntil TIMESTAMPTZ, useconfig VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_shdescription (objoid UINTEGER DEFAULT 0, classoid UINTEGER DEFAULT 0, description VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_shseclabel (objoid UINTEGER DEFAULT 0, classoid UINTEGER DEFAULT 0, provider VARCHAR, label VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_stat_activity (datid UINTEGER DEFAULT 0, datname VARCHAR, pid INTEGER DEFAULT 0, leader_pid INTEGER DEFAULT 0, usesysid UINTEGER DEFAULT 0, usename VARCHAR, application_name VARCHAR, client_addr VARCHAR, client_hostname VARCHAR, client_port INTEGER DEFAULT 0, backend_start TIMESTAMPTZ, xact_start TIMESTAMPTZ, query_start TIMESTAMPTZ, state_change TIMESTAMPTZ, wait_event_type VARCHAR, wait_event VARCHAR, state VARCHAR, backend_xid BIGINT DEFAULT 0, backend_xmin BIGINT DEFAULT 0, query_id BIGINT DEFAULT 0, query VARCHAR, backend_type VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_stat_database (datid UINTEGER DEFAULT 0, datname VARCHAR, numbackends INTEGER DEFAULT 0, xact_commit BIGINT DEFAULT 0, xact_rollback BIGINT DEFAULT 0, blks_read BIGINT DEFAULT 0, blks_hit BIGINT DEFAULT 0, tup_returned BIGINT DEFAULT 0, tup_fetched BIGINT DEFAULT 0, tup_inserted BIGINT DEFAULT 0, tup_updated BIGINT DEFAULT 0, tup_deleted BIGINT DEFAULT 0, conflicts BIGINT DEFAULT 0, temp_files BIGINT DEFAULT 0, temp_bytes BIGINT DEFAULT 0, deadlocks BIGINT DEFAULT 0, checksum_failures BIGINT DEFAULT 0, checksum_last_failure TIMESTAMPTZ, blk_read_time DOUBLE DEFAULT 0, blk_write_time DOUBLE DEFAULT 0, session_time DOUBLE DEFAULT 0, active_time DOUBLE DEFAULT 0, idle_in_transaction_time DOUBLE DEFAULT 0, sessions BIGINT DEFAULT 0, sessions_abandoned BIGINT DEFAULT 0, sessions_fatal BIGINT DEFAULT 0, sessions_killed BIGINT DEFAULT 0, stats_reset TIMESTAMPTZ);
CREATE TABLE shadow_pg_catalog.pg_stat_user_tables (relid UINTEGER DEFAULT 0, schemaname VARCHAR, relname VARCHAR, seq_scan BIGINT DEFAULT 0, seq_tup_read BIGINT DEFAULT 0, idx_scan BIGINT DEFAULT 0, idx_tup_fetch BIGINT DEFAULT 0, n_tup_ins BIGINT DEFAULT 0, n_tup_upd BIGINT DEFAULT 0, n_tup_del BIGINT DEFAULT 0, n_tup_hot_upd BIGINT DEFAULT 0, n_live_tup BIGINT DEFAULT 0, n_dead_tup BIGINT DEFAULT 0, n_mod_since_analyze BIGINT DEFAULT 0, n_ins_since_vacuum BIGINT DEFAULT 0, last_vacuum TIMESTAMPTZ, last_autovacuum TIMESTAMPTZ, last_analyze TIMESTAMPTZ, last_autoanalyze TIMESTAMPTZ, vacuum_count BIGINT DEFAULT 0, autovacuum_count BIGINT DEFAULT 0, analyze_count BIGINT DEFAULT 0, autoanalyze_count BIGINT DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_statio_user_tables (relid UINTEGER DEFAULT 0, schemaname VARCHAR, relname VARCHAR, heap_blks_read BIGINT DEFAULT 0, heap_blks_hit BIGINT DEFAULT 0, idx_blks_read BIGINT DEFAULT 0, idx_blks_hit BIGINT DEFAULT 0, toast_blks_read BIGINT DEFAULT 0, toast_blks_hit BIGINT DEFAULT 0, tidx_blks_read BIGINT DEFAULT 0, tidx_blks_hit BIGINT DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_statistic_ext (oid UINTEGER DEFAULT 0, stxrelid UINTEGER DEFAULT 0, stxname VARCHAR, stxnamespace UINTEGER DEFAULT 0, stxowner UINTEGER DEFAULT 0, stxstattarget INTEGER DEFAULT 0, stxkeys SMALLINT[], stxkind VARCHAR[], stxexprs VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_subscription (oid UINTEGER DEFAULT 0, subdbid UINTEGER DEFAULT 0, subskiplsn VARCHAR, subname VARCHAR, subowner UINTEGER DEFAULT 0, subenabled BOOLEAN DEFAULT false, subbinary BOOLEAN DEFAULT false, substream BOOLEAN DEFAULT false, subtwophasestate VARCHAR, subdisableonerr BOOLEAN DEFAULT false, subconninfo VARCHAR, subslotname VARCHAR, subsynccommit VARCHAR, subpublications VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_tables (schemaname VARCHAR, tablename VARCHAR, tableowner VARCHAR, tablespace VARCHAR, hasindexes BOOLEAN DEFAULT false, hasrules BOOLEAN DEFAULT false, hastriggers BOOLEAN DEFAULT false, rowsecurity BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_tablespace (oid UINTEGER DEFAULT 0, spcname VARCHAR, spcowner UINTEGER DEFAULT 0, spcacl VARCHAR[], spcoptions VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_timezone_names (name VARCHAR, abbrev VARCHAR, utc_offset INTERVAL, is_dst BOOLEAN DEFAULT false);
CREATE TABLE shadow_pg_catalog.pg_transform (oid UINTEGER DEFAULT 0, trftype UINTEGER DEFAULT 0, trflang UINTEGER DEFAULT 0, trffromsql VARCHAR, trftosql VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_trigger (oid UINTEGER DEFAULT 0, tgrelid UINTEGER DEFAULT 0, tgparentid UINTEGER DEFAULT 0, tgname VARCHAR, tgfoid UINTEGER DEFAULT 0, tgtype SMALLINT DEFAULT 0, tgenabled VARCHAR, tgisinternal BOOLEAN DEFAULT false, tgconstrrelid UINTEGER DEFAULT 0, tgconstrindid UINTEGER DEFAULT 0, tgconstraint UINTEGER DEFAULT 0, tgdeferrable BOOLEAN DEFAULT false, tginitdeferred BOOLEAN DEFAULT false, tgnargs SMALLINT DEFAULT 0, tgattr SMALLINT[], tgargs BLOB, tgqual VARCHAR, tgoldtable VARCHAR, tgnewtable VARCHAR);
CREATE TABLE shadow_pg_catalog.pg_ts_config (oid UINTEGER DEFAULT 0, cfgname VARCHAR, cfgnamespace UINTEGER DEFAULT 0, cfgowner UINTEGER DEFAULT 0, cfgparser UINTEGER DEFAULT 0);
CREATE TABLE shadow_pg_catalog.pg_type (oid UINTEGER DEFAULT 0, typname VARCHAR, typnamespace UINTEGER DEFAULT 0, typowner UINTEGER DEFAULT 10, typlen SMALLINT DEFAULT 0, typbyval BOOLEAN DEFAULT false, typtype VARCHAR, typcategory VARCHAR, typispreferred BOOLEAN DEFAULT false, typisdefined BOOLEAN DEFAULT false, typdelim VARCHAR DEFAULT ',', typrelid UINTEGER DEFAULT 0, typsubscript VARCHAR, typelem UINTEGER DEFAULT 0, typarray UINTEGER DEFAULT 0, typinput VARCHAR, typoutput VARCHAR, typreceive VARCHAR, typsend VARCHAR, typmodin VARCHAR, typmodout VARCHAR, typanalyze VARCHAR, typalign VARCHAR, typstorage VARCHAR, typnotnull BOOLEAN DEFAULT false, typbasetype UINTEGER DEFAULT 0, typtypmod INTEGER DEFAULT -1, typndims INTEGER DEFAULT 0, typcollation UINTEGER DEFAULT 0, typdefaultbin VARCHAR, typdefault VARCHAR, typacl VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_user (usename VARCHAR, usesysid UINTEGER DEFAULT 0, usecreatedb BOOLEAN DEFAULT false, usesuper BOOLEAN DEFAULT false, userepl BOOLEAN DEFAULT false, usebypassrls BOOLEAN DEFAULT false, passwd VARCHAR, valuntil TIMESTAMPTZ, useconfig VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_user_mapping (oid UINTEGER DEFAULT 0, umuser UINTEGER DEFAULT 0, umserver UINTEGER DEFAULT 0, umoptions VARCHAR[]);
CREATE TABLE shadow_pg_catalog.pg_views (schemaname VARCHAR, viewname VARCHAR, viewowner VARCHAR, definition VARCHAR);
INSERT INTO shadow_pg_catalog.pg_type VALUES
  (16, 'bool', 11, 10, 1, true, 'b', 'B', true, true, ',', 0, '-', 0, 1000, 'boolin', 'boolout', 'boolrecv', 'boolsend', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (17, 'bytea', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 1001, 'byteain', 'byteaout', 'bytearecv', 'byteasend', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (18, 'char', 11, 10, 1, true, 'b', 'Z', false, true, ',', 0, '-', 0, 1002, 'charin', 'charout', 'charrecv', 'charsend', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (19, 'name', 11, 10, 64, false, 'b', 'S', false, true, ',', 0, 'raw_array_subscript_handler', 18, 1003, 'namein', 'nameout', 'namerecv', 'namesend', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 950, NULL, NULL, NULL),
  (20, 'int8', 11, 10, 8, true, 'b', 'N', false, true, ',', 0, '-', 0, 1016, 'int8in', 'int8out', 'int8recv', 'int8send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (21, 'int2', 11, 10, 2, true, 'b', 'N', false, true, ',', 0, '-', 0, 1005, 'int2in', 'int2out', 'int2recv', 'int2send', '-', '-', '-', 's', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (22, 'int2vector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 21, 1006, 'int2vectorin', 'int2vectorout', 'int2vectorrecv', 'int2vectorsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (23, 'int4', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 1007, 'int4in', 'int4out', 'int4recv', 'int4send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (24, 'regproc', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 1008, 'regprocin', 'regprocout', 'regprocrecv', 'regprocsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (25, 'text', 11, 10, -1, false, 'b', 'S', true, true, ',', 0, '-', 0, 1009, 'textin', 'textout', 'textrecv', 'textsend', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (26, 'oid', 11, 10, 4, true, 'b', 'N', true, true, ',', 0, '-', 0, 1028, 'oidin', 'oidout', 'oidrecv', 'oidsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (27, 'tid', 11, 10, 6, false, 'b', 'U', false, true, ',', 0, '-', 0, 1010, 'tidin', 'tidout', 'tidrecv', 'tidsend', '-', '-', '-', 's', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (28, 'xid', 11, 10, 4, true, 'b', 'U', false, true, ',', 0, '-', 0, 1011, 'xidin', 'xidout', 'xidrecv', 'xidsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (29, 'cid', 11, 10, 4, true, 'b', 'U', false, true, ',', 0, '-', 0, 1012, 'cidin', 'cidout', 'cidrecv', 'cidsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (30, 'oidvector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 26, 1013, 'oidvectorin', 'oidvectorout', 'oidvectorrecv', 'oidvectorsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (114, 'json', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 199, 'json_in', 'json_out', 'json_recv', 'json_send', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (142, 'xml', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 143, 'xml_in', 'xml_out', 'xml_recv', 'xml_send', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (143, '_xml', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 142, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (199, '_json', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 114, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (269, 'table_am_handler', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'table_am_handler_in', 'table_am_handler_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (271, '_xid8', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 5069, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (325, 'index_am_handler', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'index_am_handler_in', 'index_am_handler_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (600, 'point', 11, 10, 16, false, 'b', 'G', false, true, ',', 0, 'raw_array_subscript_handler', 701, 1017, 'point_in', 'point_out', 'point_recv', 'point_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (601, 'lseg', 11, 10, 32, false, 'b', 'G', false, true, ',', 0, 'raw_array_subscript_handler', 600, 1018, 'lseg_in', 'lseg_out', 'lseg_recv', 'lseg_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (602, 'path', 11, 10, -1, false, 'b', 'G', false, true, ',', 0, '-', 0, 1019, 'path_in', 'path_out', 'path_recv', 'path_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (603, 'box', 11, 10, 32, false, 'b', 'G', false, true, ';', 0, 'raw_array_subscript_handler', 600, 1020, 'box_in', 'box_out', 'box_recv', 'box_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (604, 'polygon', 11, 10, -1, false, 'b', 'G', false, true, ',', 0, '-', 0, 1027, 'poly_in', 'poly_out', 'poly_recv', 'poly_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (628, 'line', 11, 10, 24, false, 'b', 'G', false, true, ',', 0, 'raw_array_subscript_handler', 701, 629, 'line_in', 'line_out', 'line_recv', 'line_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (629, '_line', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 628, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (650, 'cidr', 11, 10, -1, false, 'b', 'I', false, true, ',', 0, '-', 0, 651, 'cidr_in', 'cidr_out', 'cidr_recv', 'cidr_send', '-', '-', '-', 'i', 'm', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (651, '_cidr', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 650, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (700, 'float4', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 1021, 'float4in', 'float4out', 'float4recv', 'float4send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (701, 'float8', 11, 10, 8, true, 'b', 'N', true, true, ',', 0, '-', 0, 1022, 'float8in', 'float8out', 'float8recv', 'float8send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (705, 'unknown', 11, 10, -2, false, 'p', 'X', false, true, ',', 0, '-', 0, 0, 'unknownin', 'unknownout', 'unknownrecv', 'unknownsend', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (718, 'circle', 11, 10, 24, false, 'b', 'G', false, true, ',', 0, '-', 0, 719, 'circle_in', 'circle_out', 'circle_recv', 'circle_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (719, '_circle', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 718, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (774, 'macaddr8', 11, 10, 8, false, 'b', 'U', false, true, ',', 0, '-', 0, 775, 'macaddr8_in', 'macaddr8_out', 'macaddr8_recv', 'macaddr8_send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (775, '_macaddr8', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 774, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (790, 'money', 11, 10, 8, true, 'b', 'N', false, true, ',', 0, '-', 0, 791, 'cash_in', 'cash_out', 'cash_recv', 'cash_send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (791, '_money', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 790, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (829, 'macaddr', 11, 10, 6, false, 'b', 'U', false, true, ',', 0, '-', 0, 1040, 'macaddr_in', 'macaddr_out', 'macaddr_recv', 'macaddr_send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (869, 'inet', 11, 10, -1, false, 'b', 'I', true, true, ',', 0, '-', 0, 1041, 'inet_in', 'inet_out', 'inet_recv', 'inet_send', '-', '-', '-', 'i', 'm', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1000, '_bool', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 16, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1001, '_bytea', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 17, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1002, '_char', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 18, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1003, '_name', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 19, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 950, NULL, NULL, NULL),
  (1005, '_int2', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 21, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1006, '_int2vector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 22, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1007, '_int4', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 23, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1008, '_regproc', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 24, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1009, '_text', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 25, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (1010, '_tid', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 27, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1011, '_xid', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 28, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1012, '_cid', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 29, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1013, '_oidvector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 30, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1014, '_bpchar', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1042, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'bpchartypmodin', 'bpchartypmodout', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (1015, '_varchar', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1043, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'varchartypmodin', 'varchartypmodout', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (1016, '_int8', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 20, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1017, '_point', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 600, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1018, '_lseg', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 601, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1019, '_path', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 602, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1020, '_box', 11, 10, -1, false, 'b', 'A', false, true, ';', 0, 'array_subscript_handler', 603, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1021, '_float4', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 700, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1022, '_float8', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 701, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1027, '_polygon', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 604, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1028, '_oid', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 26, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1033, 'aclitem', 11, 10, 12, false, 'b', 'U', false, true, ',', 0, '-', 0, 1034, 'aclitemin', 'aclitemout', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1034, '_aclitem', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1033, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1040, '_macaddr', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 829, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1041, '_inet', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 869, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1042, 'bpchar', 11, 10, -1, false, 'b', 'S', false, true, ',', 0, '-', 0, 1014, 'bpcharin', 'bpcharout', 'bpcharrecv', 'bpcharsend', 'bpchartypmodin', 'bpchartypmodout', '-', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (1043, 'varchar', 11, 10, -1, false, 'b', 'S', false, true, ',', 0, '-', 0, 1015, 'varcharin', 'varcharout', 'varcharrecv', 'varcharsend', 'varchartypmodin', 'varchartypmodout', '-', 'i', 'x', false, 0, -1, 0, 100, NULL, NULL, NULL),
  (1082, 'date', 11, 10, 4, true, 'b', 'D', false, true, ',', 0, '-', 0, 1182, 'date_in', 'date_out', 'date_recv', 'date_send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1083, 'time', 11, 10, 8, true, 'b', 'D', false, true, ',', 0, '-', 0, 1183, 'time_in', 'time_out', 'time_recv', 'time_send', 'timetypmodin', 'timetypmodout', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1114, 'timestamp', 11, 10, 8, true, 'b', 'D', false, true, ',', 0, '-', 0, 1115, 'timestamp_in', 'timestamp_out', 'timestamp_recv', 'timestamp_send', 'timestamptypmodin', 'timestamptypmodout', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1115, '_timestamp', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1114, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'timestamptypmodin', 'timestamptypmodout', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1182, '_date', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1082, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1183, '_time', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1083, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'timetypmodin', 'timetypmodout', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1184, 'timestamptz', 11, 10, 8, true, 'b', 'D', true, true, ',', 0, '-', 0, 1185, 'timestamptz_in', 'timestamptz_out', 'timestamptz_recv', 'timestamptz_send', 'timestamptztypmodin', 'timestamptztypmodout', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1185, '_timestamptz', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1184, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'timestamptztypmodin', 'timestamptztypmodout', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1186, 'interval', 11, 10, 16, false, 'b', 'T', true, true, ',', 0, '-', 0, 1187, 'interval_in', 'interval_out', 'interval_recv', 'interval_send', 'intervaltypmodin', 'intervaltypmodout', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1187, '_interval', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1186, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'intervaltypmodin', 'intervaltypmodout', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1231, '_numeric', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1700, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'numerictypmodin', 'numerictypmodout', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1263, '_cstring', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2275, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1266, 'timetz', 11, 10, 12, false, 'b', 'D', false, true, ',', 0, '-', 0, 1270, 'timetz_in', 'timetz_out', 'timetz_recv', 'timetz_send', 'timetztypmodin', 'timetztypmodout', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1270, '_timetz', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1266, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'timetztypmodin', 'timetztypmodout', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1560, 'bit', 11, 10, -1, false, 'b', 'V', false, true, ',', 0, '-', 0, 1561, 'bit_in', 'bit_out', 'bit_recv', 'bit_send', 'bittypmodin', 'bittypmodout', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1561, '_bit', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1560, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'bittypmodin', 'bittypmodout', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1562, 'varbit', 11, 10, -1, false, 'b', 'V', true, true, ',', 0, '-', 0, 1563, 'varbit_in', 'varbit_out', 'varbit_recv', 'varbit_send', 'varbittypmodin', 'varbittypmodout', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1563, '_varbit', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1562, 0, 'array_in', 'array_out', 'array_recv', 'array_send', 'varbittypmodin', 'varbittypmodout', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1700, 'numeric', 11, 10, -1, false, 'b', 'N', false, true, ',', 0, '-', 0, 1231, 'numeric_in', 'numeric_out', 'numeric_recv', 'numeric_send', 'numerictypmodin', 'numerictypmodout', '-', 'i', 'm', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (1790, 'refcursor', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 2201, 'textin', 'textout', 'textrecv', 'textsend', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2201, '_refcursor', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 1790, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2202, 'regprocedure', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 2207, 'regprocedurein', 'regprocedureout', 'regprocedurerecv', 'regproceduresend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2203, 'regoper', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 2208, 'regoperin', 'regoperout', 'regoperrecv', 'regopersend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2204, 'regoperator', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 2209, 'regoperatorin', 'regoperatorout', 'regoperatorrecv', 'regoperatorsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2205, 'regclass', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 2210, 'regclassin', 'regclassout', 'regclassrecv', 'regclasssend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2206, 'regtype', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 2211, 'regtypein', 'regtypeout', 'regtyperecv', 'regtypesend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2207, '_regprocedure', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2202, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2208, '_regoper', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2203, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2209, '_regoperator', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2204, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2210, '_regclass', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2205, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2211, '_regtype', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2206, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2249, 'record', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 2287, 'record_in', 'record_out', 'record_recv', 'record_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2275, 'cstring', 11, 10, -2, false, 'p', 'P', false, true, ',', 0, '-', 0, 1263, 'cstring_in', 'cstring_out', 'cstring_recv', 'cstring_send', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2276, 'any', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'any_in', 'any_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2277, 'anyarray', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anyarray_in', 'anyarray_out', 'anyarray_recv', 'anyarray_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2278, 'void', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'void_in', 'void_out', 'void_recv', 'void_send', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2279, 'trigger', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'trigger_in', 'trigger_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2280, 'language_handler', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'language_handler_in', 'language_handler_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2281, 'internal', 11, 10, 8, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'internal_in', 'internal_out', '-', '-', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2283, 'anyelement', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anyelement_in', 'anyelement_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2287, '_record', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, 'array_subscript_handler', 2249, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2776, 'anynonarray', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anynonarray_in', 'anynonarray_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2949, '_txid_snapshot', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2970, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2950, 'uuid', 11, 10, 16, false, 'b', 'U', false, true, ',', 0, '-', 0, 2951, 'uuid_in', 'uuid_out', 'uuid_recv', 'uuid_send', '-', '-', '-', 'c', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2951, '_uuid', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 2950, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (2970, 'txid_snapshot', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 2949, 'txid_snapshot_in', 'txid_snapshot_out', 'txid_snapshot_recv', 'txid_snapshot_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3115, 'fdw_handler', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'fdw_handler_in', 'fdw_handler_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3310, 'tsm_handler', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'tsm_handler_in', 'tsm_handler_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3500, 'anyenum', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anyenum_in', 'anyenum_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3614, 'tsvector', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 3643, 'tsvectorin', 'tsvectorout', 'tsvectorrecv', 'tsvectorsend', '-', '-', 'ts_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3615, 'tsquery', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 3645, 'tsqueryin', 'tsqueryout', 'tsqueryrecv', 'tsquerysend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3642, 'gtsvector', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 3644, 'gtsvectorin', 'gtsvectorout', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3643, '_tsvector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3614, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3644, '_gtsvector', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3642, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3645, '_tsquery', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3615, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3734, 'regconfig', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 3735, 'regconfigin', 'regconfigout', 'regconfigrecv', 'regconfigsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3735, '_regconfig', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3734, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3769, 'regdictionary', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 3770, 'regdictionaryin', 'regdictionaryout', 'regdictionaryrecv', 'regdictionarysend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3770, '_regdictionary', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3769, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3802, 'jsonb', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, 'jsonb_subscript_handler', 0, 3807, 'jsonb_in', 'jsonb_out', 'jsonb_recv', 'jsonb_send', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3807, '_jsonb', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3802, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3831, 'anyrange', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anyrange_in', 'anyrange_out', '-', '-', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3838, 'event_trigger', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'event_trigger_in', 'event_trigger_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3904, 'int4range', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3905, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3905, '_int4range', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3904, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3906, 'numrange', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3907, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3907, '_numrange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3906, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3908, 'tsrange', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3909, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3909, '_tsrange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3908, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3910, 'tstzrange', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3911, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3911, '_tstzrange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3910, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3912, 'daterange', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3913, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3913, '_daterange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3912, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3926, 'int8range', 11, 10, -1, false, 'r', 'R', false, true, ',', 0, '-', 0, 3927, 'range_in', 'range_out', 'range_recv', 'range_send', '-', '-', 'range_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (3927, '_int8range', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 3926, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4072, 'jsonpath', 11, 10, -1, false, 'b', 'U', false, true, ',', 0, '-', 0, 4073, 'jsonpath_in', 'jsonpath_out', 'jsonpath_recv', 'jsonpath_send', '-', '-', '-', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4073, '_jsonpath', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4072, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4089, 'regnamespace', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 4090, 'regnamespacein', 'regnamespaceout', 'regnamespacerecv', 'regnamespacesend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4090, '_regnamespace', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4089, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4096, 'regrole', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 4097, 'regrolein', 'regroleout', 'regrolerecv', 'regrolesend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4097, '_regrole', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4096, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4191, 'regcollation', 11, 10, 4, true, 'b', 'N', false, true, ',', 0, '-', 0, 4192, 'regcollationin', 'regcollationout', 'regcollationrecv', 'regcollationsend', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4192, '_regcollation', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4191, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4451, 'int4multirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6150, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4532, 'nummultirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6151, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4533, 'tsmultirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6152, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4534, 'tstzmultirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6153, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4535, 'datemultirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6155, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4536, 'int8multirange', 11, 10, -1, false, 'm', 'R', false, true, ',', 0, '-', 0, 6157, 'multirange_in', 'multirange_out', 'multirange_recv', 'multirange_send', '-', '-', 'multirange_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4537, 'anymultirange', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anymultirange_in', 'anymultirange_out', '-', '-', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (4538, 'anycompatiblemultirange', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anycompatiblemultirange_in', 'anycompatiblemultirange_out', '-', '-', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (5069, 'xid8', 11, 10, 8, true, 'b', 'U', false, true, ',', 0, '-', 0, 271, 'xid8in', 'xid8out', 'xid8recv', 'xid8send', '-', '-', '-', 'd', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (5077, 'anycompatible', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anycompatible_in', 'anycompatible_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (5078, 'anycompatiblearray', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anycompatiblearray_in', 'anycompatiblearray_out', 'anycompatiblearray_recv', 'anycompatiblearray_send', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (5079, 'anycompatiblenonarray', 11, 10, 4, true, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anycompatiblenonarray_in', 'anycompatiblenonarray_out', '-', '-', '-', '-', '-', 'i', 'p', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (5080, 'anycompatiblerange', 11, 10, -1, false, 'p', 'P', false, true, ',', 0, '-', 0, 0, 'anycompatiblerange_in', 'anycompatiblerange_out', '-', '-', '-', '-', '-', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6150, '_int4multirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4451, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6151, '_nummultirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4532, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6152, '_tsmultirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4533, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6153, '_tstzmultirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4534, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6155, '_datemultirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4535, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL),
  (6157, '_int8multirange', 11, 10, -1, false, 'b', 'A', false, true, ',', 0, 'array_subscript_handler', 4536, 0, 'array_in', 'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'd', 'x', false, 0, -1, 0, 0, NULL, NULL, NULL);
INSERT INTO shadow_pg_catalog.pg_am VALUES
  (2, 'heap', 'heap_tableam_handler', 't'),
  (403, 'btree', 'bthandler', 'i'),
  (405, 'hash', 'hashhandler', 'i'),
  (783, 'gist', 'gisthandler', 'i'),
  (2742, 'gin', 'ginhandler', 'i'),
  (3580, 'brin', 'brinhandler', 'i'),
  (4000, 'spgist', 'spghandler', 'i');
INSERT INTO shadow_pg_catalog.pg_class (oid, relname, relnamespace, relkind, relnatts) VALUES
  (826, 'pg_default_acl', 11, 'r', 5),
  (1213, 'pg_tablespace', 11, 'r', 5),
  (1247, 'pg_type', 11, 'r', 32),
  (1249, 'pg_attribute', 11, 'r', 26),
  (1255, 'pg_proc', 11, 'r', 30),
  (1259, 'pg_class', 11, 'r', 33),
  (1260, 'pg_authid', 11, 'r', 12),
  (1261, 'pg_auth_members', 11, 'r', 4),
  (1262, 'pg_database', 11, 'r', 16),
  (1417, 'pg_foreign_server', 11, 'r', 8),
  (1418, 'pg_user_mapping', 11, 'r', 4),
  (2224, 'pg_sequence', 11, 'r', 8),
  (2328, 'pg_foreign_data_wrapper', 11, 'r', 7),
  (2396, 'pg_shdescription', 11, 'r', 3),
  (2600, 'pg_aggregate', 11, 'r', 22),
  (2601, 'pg_am', 11, 'r', 4),
  (2602, 'pg_amop', 11, 'r', 9),
  (2603, 'pg_amproc', 11, 'r', 6),
  (2604, 'pg_attrdef', 11, 'r', 4),
  (2605, 'pg_cast', 11, 'r', 6),
  (2606, 'pg_constraint', 11, 'r', 26),
  (2607, 'pg_conversion', 11, 'r', 8),
  (2608, 'pg_depend', 11, 'r', 7),
  (2609, 'pg_description', 11, 'r', 4),
  (2610, 'pg_index', 11, 'r', 21),
  (2611, 'pg_inherits', 11, 'r', 4),
  (2612, 'pg_language', 11, 'r', 9),
  (2615, 'pg_namespace', 11, 'r', 4),
  (2616, 'pg_opclass', 11, 'r', 9),
  (2617, 'pg_operator', 11, 'r', 15),
  (2618, 'pg_rewrite', 11, 'r', 8),
  (2620, 'pg_trigger', 11, 'r', 19),
  (2753, 'pg_opfamily', 11, 'r', 5),
  (2995, 'pg_largeobject_metadata', 11, 'r', 3),
  (3079, 'pg_extension', 11, 'r', 8),
  (3118, 'pg_foreign_table', 11, 'r', 3),
  (3256, 'pg_policy', 11, 'r', 8),
  (3350, 'pg_partitioned_table', 11, 'r', 8),
  (3381, 'pg_statistic_ext', 11, 'r', 9),
  (3394, 'pg_init_privs', 11, 'r', 5),
  (3456, 'pg_collation', 11, 'r', 11),
  (3466, 'pg_event_trigger', 11, 'r', 7),
  (3501, 'pg_enum', 11, 'r', 4),
  (3541, 'pg_range', 11, 'r', 7),
  (3576, 'pg_transform', 11, 'r', 5),
  (3592, 'pg_shseclabel', 11, 'r', 4),
  (3596, 'pg_seclabel', 11, 'r', 5),
  (3602, 'pg_ts_config', 11, 'r', 5),
  (6100, 'pg_subscription', 11, 'r', 14),
  (6104, 'pg_publication', 11, 'r', 9),
  (6106, 'pg_publication_rel', 11, 'r', 5),
  (6237, 'pg_publication_namespace', 11, 'r', 3),
  (12000, 'pg_roles', 11, 'v', 13),
  (12005, 'pg_shadow', 11, 'v', 9),
  (12010, 'pg_group', 11, 'v', 3),
  (12014, 'pg_user', 11, 'v', 9),
  (12028, 'pg_views', 11, 'v', 4),
  (12033, 'pg_tables', 11, 'v', 8),
  (12038, 'pg_matviews', 11, 'v', 7),
  (12043, 'pg_indexes', 11, 'v', 5),
  (12048, 'pg_sequences', 11, 'v', 11),
  (12073, 'pg_locks', 11, 'v', 16),
  (12077, 'pg_cursors', 11, 'v', 6),
  (12081, 'pg_available_extensions', 11, 'v', 4),
  (12095, 'pg_prepared_statements', 11, 'v', 7),
  (12104, 'pg_settings', 11, 'v', 17),
  (12126, 'pg_timezone_names', 11, 'v', 4),
  (12161, 'pg_stat_user_tables', 11, 'v', 23),
  (12179, 'pg_statio_user_tables', 11, 'v', 11),
  (12222, 'pg_stat_activity', 11, 'v', 22),
  (12266, 'pg_stat_database', 11, 'v', 28);
CREATE TABLE shadow_information_schema.tables (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, table_type VARCHAR, self_referencing_column_name VARCHAR, reference_generation VARCHAR, user_defined_type_catalog VARCHAR, user_defined_type_schema VARCHAR, user_defined_type_name VARCHAR, is_insertable_into VARCHAR, is_typed VARCHAR, commit_action VARCHAR);
CREATE TABLE shadow_information_schema.columns (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, ordinal_position INTEGER, column_default VARCHAR, is_nullable VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, domain_catalog VARCHAR, domain_schema VARCHAR, domain_name VARCHAR, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR, is_self_referencing VARCHAR, is_identity VARCHAR, identity_generation VARCHAR, identity_start VARCHAR, identity_increment VARCHAR, identity_maximum VARCHAR, identity_minimum VARCHAR, identity_cycle VARCHAR, is_generated VARCHAR, generation_expression VARCHAR, is_updatable VARCHAR);
CREATE TABLE shadow_information_schema.schemata (catalog_name VARCHAR, schema_name VARCHAR, schema_owner VARCHAR, default_character_set_catalog VARCHAR, default_character_set_schema VARCHAR, default_character_set_name VARCHAR, sql_path VARCHAR);
CREATE TABLE shadow_information_schema.views (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, view_definition VARCHAR, check_option VARCHAR, is_updatable VARCHAR, is_insertable_into VARCHAR, is_trigger_updatable VARCHAR, is_trigger_deletable VARCHAR, is_trigger_insertable_into VARCHAR);
CREATE TABLE shadow_information_schema.table_constraints (constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, constraint_type VARCHAR, is_deferrable VARCHAR, initially_deferred VARCHAR, enforced VARCHAR, nulls_distinct VARCHAR);
CREATE TABLE shadow_information_schema.key_column_usage (constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, ordinal_position INTEGER, position_in_unique_constraint INTEGER);
CREATE TABLE shadow_information_schema.referential_constraints (constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, unique_constraint_catalog VARCHAR, unique_constraint_schema VARCHAR, unique_constraint_name VARCHAR, match_option VARCHAR, update_rule VARCHAR, delete_rule VARCHAR);
CREATE TABLE shadow_information_schema.constraint_column_usage (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR);
CREATE TABLE shadow_information_schema.routines (specific_catalog VARCHAR, specific_schema VARCHAR, specific_name VARCHAR, routine_catalog VARCHAR, routine_schema VARCHAR, routine_name VARCHAR, routine_type VARCHAR, module_catalog VARCHAR, module_schema VARCHAR, module_name VARCHAR, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, type_udt_catalog VARCHAR, type_udt_schema VARCHAR, type_udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR, routine_body VARCHAR, routine_definition VARCHAR, external_name VARCHAR, external_language VARCHAR, parameter_style VARCHAR, is_deterministic VARCHAR, sql_data_access VARCHAR, is_null_call VARCHAR, sql_path VARCHAR, schema_level_routine VARCHAR, max_dynamic_result_sets INTEGER, is_user_defined_cast VARCHAR, is_implicitly_invocable VARCHAR, security_type VARCHAR, to_sql_specific_catalog VARCHAR, to_sql_specific_schema VARCHAR, to_sql_specific_name VARCHAR, as_locator VARCHAR, created TIMESTAMPTZ, last_altered TIMESTAMPTZ, new_savepoint_level VARCHAR, is_udt_dependent VARCHAR, result_cast_from_data_type VARCHAR, result_cast_as_locator VARCHAR, result_cast_char_max_length INTEGER, result_cast_char_octet_length INTEGER, result_cast_char_set_catalog VARCHAR, result_cast_char_set_schema VARCHAR, result_cast_char_set_name VARCHAR, result_cast_collation_catalog VARCHAR, result_cast_collation_schema VARCHAR, result_cast_collation_name VARCHAR, result_cast_numeric_precision INTEGER, result_cast_numeric_precision_radix INTEGER, result_cast_numeric_scale INTEGER, result_cast_datetime_precision INTEGER, result_cast_interval_type VARCHAR, result_cast_interval_precision INTEGER, result_cast_type_udt_catalog VARCHAR, result_cast_type_udt_schema VARCHAR, result_cast_type_udt_name VARCHAR, result_cast_scope_catalog VARCHAR, result_cast_scope_schema VARCHAR, result_cast_scope_name VARCHAR, result_cast_maximum_cardinality INTEGER, result_cast_dtd_identifier VARCHAR);
CREATE TABLE shadow_information_schema.parameters (specific_catalog VARCHAR, specific_schema VARCHAR, specific_name VARCHAR, ordinal_position INTEGER, parameter_mode VARCHAR, is_result VARCHAR, as_locator VARCHAR, parameter_name VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR, parameter_default VARCHAR);
CREATE TABLE shadow_information_schema.sequences (sequence_catalog VARCHAR, sequence_schema VARCHAR, sequence_name VARCHAR, data_type VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, start_value VARCHAR, minimum_value VARCHAR, maximum_value VARCHAR, increment VARCHAR, cycle_option VARCHAR);
CREATE TABLE shadow_information_schema.triggers (trigger_catalog VARCHAR, trigger_schema VARCHAR, trigger_name VARCHAR, event_manipulation VARCHAR, event_object_catalog VARCHAR, event_object_schema VARCHAR, event_object_table VARCHAR, action_order INTEGER, action_condition VARCHAR, action_statement VARCHAR, action_orientation VARCHAR, action_timing VARCHAR, action_reference_old_table VARCHAR, action_reference_new_table VARCHAR, action_reference_old_row VARCHAR, action_reference_new_row VARCHAR, created TIMESTAMPTZ);
CREATE TABLE shadow_information_schema.check_constraints (constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR, check_clause VARCHAR);
CREATE TABLE shadow_information_schema.enabled_roles (role_name VARCHAR);
CREATE TABLE shadow_information_schema.applicable_roles (grantee VARCHAR, role_name VARCHAR, is_grantable VARCHAR);
CREATE TABLE shadow_information_schema.table_privileges (grantor VARCHAR, grantee VARCHAR, table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, privilege_type VARCHAR, is_grantable VARCHAR, with_hierarchy VARCHAR);
CREATE TABLE shadow_information_schema.column_privileges (grantor VARCHAR, grantee VARCHAR, table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR, privilege_type VARCHAR, is_grantable VARCHAR);
CREATE TABLE shadow_information_schema.element_types (object_catalog VARCHAR, object_schema VARCHAR, object_name VARCHAR, object_type VARCHAR, collection_type_identifier VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, domain_default VARCHAR, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR);
CREATE TABLE shadow_information_schema.domains (domain_catalog VARCHAR, domain_schema VARCHAR, domain_name VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, domain_default VARCHAR, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR);
CREATE TABLE shadow_information_schema.attributes (udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, attribute_name VARCHAR, ordinal_position INTEGER, attribute_default VARCHAR, is_nullable VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, attribute_udt_catalog VARCHAR, attribute_udt_schema VARCHAR, attribute_udt_name VARCHAR, scope_catalog VARCHAR, scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR, is_derived_reference_attribute VARCHAR);
CREATE TABLE shadow_information_schema.user_defined_types (user_defined_type_catalog VARCHAR, user_defined_type_schema VARCHAR, user_defined_type_name VARCHAR, user_defined_type_category VARCHAR, is_instantiable VARCHAR, is_final VARCHAR, ordering_form VARCHAR, ordering_category VARCHAR, ordering_routine_catalog VARCHAR, ordering_routine_schema VARCHAR, ordering_routine_name VARCHAR, reference_type VARCHAR, data_type VARCHAR, character_maximum_length INTEGER, character_octet_length INTEGER, character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR, collation_schema VARCHAR, collation_name VARCHAR, numeric_precision INTEGER, numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER, interval_type VARCHAR, interval_precision INTEGER, source_dtd_identifier VARCHAR, ref_dtd_identifier VARCHAR);
CREATE TABLE shadow_information_schema.character_sets (character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR, character_repertoire VARCHAR, form_of_use VARCHAR, default_collate_catalog VARCHAR, default_collate_schema VARCHAR, default_collate_name VARCHAR);
INSERT INTO shadow_pg_catalog.pg_namespace (oid, nspname, nspowner) VALUES
  (11, 'pg_catalog', 10), (2200, 'public', 10), (13000, 'information_schema', 10);
INSERT INTO shadow_pg_catalog.pg_tablespace (oid, spcname, spcowner) VALUES
  (1663, 'pg_default', 10), (1664, 'pg_global', 10);
INSERT INTO shadow_pg_catalog.pg_collation
  (oid, collname, collnamespace, collowner, collprovider, collisdeterministic, collencoding) VALUES
  (100, 'default', 11, 10, 'd', true, -1), (950, 'C', 11, 10, 'c', true, -1),
  (951, 'POSIX', 11, 10, 'c', true, -1);
INSERT INTO shadow_pg_catalog.pg_language (oid, lanname, lanowner, lanispl, lanpltrusted) VALUES
  (12, 'internal', 10, false, false), (13, 'c', 10, false, false), (14, 'sql', 10, false, true);
INSERT INTO shadow_information_schema.schemata (catalog_name, schema_name, schema_owner)
  SELECT NULL, nspname, 'sidecar' FROM shadow_pg_catalog.pg_namespace;

-- Every spelling of a type name (int4, integer, _int4, integer[]), filled from types.py;
-- display marks the one format_type() shows.
CREATE TABLE shadow_pg_catalog.sidecar_type_names (oid UINTEGER, name VARCHAR, display BOOLEAN);

-- Functions clients call in catalog queries. What the sidecar has no equivalent of (defaults,
-- constraints, indexes, sequences, partitions) is NULL, as PostgreSQL answers for objects
-- without one; privileges are all granted because access is decided by sidecar.yaml.
CREATE MACRO shadow_pg_catalog.pg_get_userbyid(role) AS coalesce(
  (SELECT rolname FROM shadow_pg_catalog.pg_roles WHERE oid = role LIMIT 1),
  'unknown (OID=' || role || ')');
CREATE MACRO shadow_pg_catalog.pg_table_is_visible(relation) AS true;
CREATE MACRO shadow_pg_catalog.pg_type_is_visible(t) AS true;
CREATE MACRO shadow_pg_catalog.pg_function_is_visible(f) AS true;
CREATE MACRO shadow_pg_catalog.pg_collation_is_visible(c) AS true;
CREATE MACRO shadow_pg_catalog.pg_opclass_is_visible(c) AS true;
CREATE MACRO shadow_pg_catalog.pg_operator_is_visible(o) AS true;
CREATE MACRO shadow_pg_catalog.pg_conversion_is_visible(c) AS true;
CREATE MACRO shadow_pg_catalog.pg_ts_config_is_visible(c) AS true;
CREATE MACRO shadow_pg_catalog.format_type(t, typmod) AS CASE
  WHEN t IS NULL THEN NULL
  WHEN t = 0 THEN '-'
  WHEN t = 1700 AND typmod >= 4
    THEN 'numeric(' || ((typmod - 4) >> 16) || ',' || ((typmod - 4) & 65535) || ')'
  WHEN t = 1043 AND typmod >= 4 THEN 'character varying(' || (typmod - 4) || ')'
  WHEN t = 1042 AND typmod >= 4 THEN 'character(' || (typmod - 4) || ')'
  ELSE coalesce(
    (SELECT name FROM shadow_pg_catalog.sidecar_type_names WHERE oid = t AND display LIMIT 1),
    (SELECT typname FROM shadow_pg_catalog.pg_type WHERE oid = t LIMIT 1),
    '???')
  END;
CREATE MACRO shadow_pg_catalog.to_regtype(spelled) AS (
  SELECT min(oid) FROM shadow_pg_catalog.sidecar_type_names
  WHERE name = regexp_replace(lower(trim(spelled)), '^pg_catalog\.', ''));
CREATE MACRO shadow_pg_catalog.to_regclass(spelled) AS (
  SELECT min(oid) FROM shadow_pg_catalog.pg_class
  WHERE relname = regexp_replace(trim(spelled, ' "'), '^(public|pg_catalog)\."?', ''));
CREATE MACRO shadow_pg_catalog.to_regnamespace(spelled) AS (
  SELECT min(oid) FROM shadow_pg_catalog.pg_namespace WHERE nspname = trim(spelled, ' "'));
CREATE MACRO shadow_pg_catalog.to_regrole(spelled) AS (
  SELECT min(oid) FROM shadow_pg_catalog.pg_roles WHERE rolname = trim(spelled, ' "'));
CREATE MACRO shadow_pg_catalog.to_regproc(spelled) AS CAST(NULL AS UINTEGER);
CREATE MACRO shadow_pg_catalog.to_regprocedure(spelled) AS CAST(NULL AS UINTEGER);
CREATE MACRO shadow_pg_catalog.regclass_name(relation) AS coalesce(
  (SELECT relname FROM shadow_pg_catalog.pg_class WHERE oid = relation LIMIT 1),
  CAST(relation AS VARCHAR));
CREATE MACRO shadow_pg_catalog.regnamespace_name(namespace) AS coalesce(
  (SELECT nspname FROM shadow_pg_catalog.pg_namespace WHERE oid = namespace LIMIT 1),
  CAST(namespace AS VARCHAR));
CREATE MACRO shadow_pg_catalog.regrole_name(role) AS shadow_pg_catalog.pg_get_userbyid(role);
CREATE MACRO shadow_pg_catalog.regtype_name(t) AS shadow_pg_catalog.format_type(t, NULL);
CREATE MACRO shadow_pg_catalog.pg_get_expr(node, relation) AS CAST(NULL AS VARCHAR),
  (node, relation, pretty) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_constraintdef(c) AS CAST(NULL AS VARCHAR),
  (c, pretty) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_indexdef(i) AS CAST(NULL AS VARCHAR),
  (i, col, pretty) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_viewdef(v) AS (
  SELECT min(definition) FROM shadow_pg_catalog.pg_views AS views
  JOIN shadow_pg_catalog.pg_class AS classes ON classes.relname = views.viewname
  WHERE classes.oid = v), (v, pretty) AS (
  SELECT min(definition) FROM shadow_pg_catalog.pg_views AS views
  JOIN shadow_pg_catalog.pg_class AS classes ON classes.relname = views.viewname
  WHERE classes.oid = v);
CREATE MACRO shadow_pg_catalog.pg_get_serial_sequence(t, c) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_statisticsobjdef_columns(s) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_partkeydef(t) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_triggerdef(t) AS CAST(NULL AS VARCHAR),
  (t, pretty) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_ruledef(r) AS CAST(NULL AS VARCHAR),
  (r, pretty) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_functiondef(f) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_function_arguments(f) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_function_identity_arguments(f) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_get_function_result(f) AS CAST(NULL AS VARCHAR);
CREATE MACRO shadow_pg_catalog.pg_encoding_to_char(encoding) AS
  CASE encoding WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END;
CREATE MACRO shadow_pg_catalog.obj_description(o) AS (
  SELECT min(description) FROM shadow_pg_catalog.pg_description WHERE objoid = o AND objsubid = 0),
  (o, catalog) AS (
  SELECT min(description) FROM shadow_pg_catalog.pg_description WHERE objoid = o AND objsubid = 0);
CREATE MACRO shadow_pg_catalog.col_description(relation, attnum) AS (
  SELECT min(description) FROM shadow_pg_catalog.pg_description
  WHERE objoid = relation AND objsubid = attnum);
CREATE MACRO shadow_pg_catalog.shobj_description(o, catalog) AS (
  SELECT min(description) FROM shadow_pg_catalog.pg_shdescription WHERE objoid = o);
CREATE MACRO shadow_pg_catalog.has_table_privilege(a) AS true, (a, b) AS true, (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_schema_privilege(a) AS true, (a, b) AS true, (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_database_privilege(a) AS true, (a, b) AS true,
  (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_column_privilege(a, b) AS true, (a, b, c) AS true,
  (a, b, c, d) AS true;
CREATE MACRO shadow_pg_catalog.has_any_column_privilege(a) AS true, (a, b) AS true,
  (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_sequence_privilege(a) AS true, (a, b) AS true,
  (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_function_privilege(a) AS true, (a, b) AS true,
  (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.has_type_privilege(a) AS true, (a, b) AS true, (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.pg_has_role(a, b) AS true, (a, b, c) AS true;
CREATE MACRO shadow_pg_catalog.pg_relation_is_publishable(r) AS false;
CREATE MACRO shadow_pg_catalog.pg_relation_size(r) AS 0, (r, fork) AS 0;
CREATE MACRO shadow_pg_catalog.pg_total_relation_size(r) AS 0;
CREATE MACRO shadow_pg_catalog.pg_table_size(r) AS 0;
CREATE MACRO shadow_pg_catalog.pg_indexes_size(r) AS 0;
CREATE MACRO shadow_pg_catalog.pg_is_in_recovery() AS false;
CREATE MACRO shadow_pg_catalog.current_schemas(implicit) AS
  CASE WHEN implicit THEN ['pg_catalog', 'public'] ELSE ['public'] END;
CREATE MACRO shadow_pg_catalog.array_upper(a, dimension) AS
  CASE WHEN len(a) = 0 OR dimension <> 1 THEN NULL ELSE len(a) END;
CREATE MACRO shadow_pg_catalog.array_lower(a, dimension) AS
  CASE WHEN len(a) = 0 OR dimension <> 1 THEN NULL ELSE 1 END;
CREATE MACRO shadow_pg_catalog.quote_ident(word) AS CASE
  WHEN regexp_full_match(word, '[a-z_][a-z0-9_$]*') THEN word
  ELSE '"' || replace(word, '"', '""') || '"' END;
CREATE MACRO shadow_pg_catalog.json_build_object
  (a, b) AS json_object(a::VARCHAR, b),
  (a, b, c, d) AS json_object(a::VARCHAR, b, c::VARCHAR, d),
  (a, b, c, d, e, f) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f),
  (a, b, c, d, e, f, g, h) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f, g::VARCHAR, h),
  (a, b, c, d, e, f, g, h, i, j) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f, g::VARCHAR, h, i::VARCHAR, j),
  (a, b, c, d, e, f, g, h, i, j, k, l) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f, g::VARCHAR, h, i::VARCHAR, j, k::VARCHAR, l),
  (a, b, c, d, e, f, g, h, i, j, k, l, m, n) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f, g::VARCHAR, h, i::VARCHAR, j, k::VARCHAR, l, m::VARCHAR, n),
  (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p) AS json_object(a::VARCHAR, b, c::VARCHAR, d, e::VARCHAR, f, g::VARCHAR, h, i::VARCHAR, j, k::VARCHAR, l, m::VARCHAR, n, o::VARCHAR, p);
