#include <lmdb.h>
#include <stdio.h>
int main(int c, char **v) {
    MDB_env *e; int rc;
    mdb_env_create(&e); mdb_env_set_maxdbs(e, 64);
    if ((rc = mdb_env_open(e, v[1], MDB_RDONLY, 0600))) { printf("open %s\n", mdb_strerror(rc)); return 1; }
    if ((rc = mdb_env_copy2(e, v[2], MDB_CP_COMPACT))) { printf("copy %s\n", mdb_strerror(rc)); return 1; }
    mdb_env_close(e); return 0;
}
