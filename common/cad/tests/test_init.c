/* pkg init tests: a new package gets kpt's three files; a directory that
 * already has a Kptfile keeps it and gets only the files it lacks, and
 * only those are reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cad_internal.h"
#include "cad/cad.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cad-init-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cad_rm_rf(dir);
    return 0;
}

static char *get(const char *rel)
{
    char *p = cad_path_join(dir, rel), *b = NULL;
    size_t n;
    if (cad_read_file(p, &b, &n) < 0)
        b = NULL;
    free(p);
    return b;
}

/* Runs init over dir; returns what it logged (malloc'd). */
static char *init_logged(void)
{
    char *log = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&log, &n);
    cad_init_opts o = {.dir = dir, .log = f};
    assert_int_equal(cad_pkg_init(&o), 0);
    fclose(f);
    return log;
}

static void test_new_package(void **state)
{
    (void)state;
    char *log = init_logged();
    assert_string_equal(log, "writing Kptfile\nwriting README.md\nwriting package-context.yaml\n");
    char *k = get("Kptfile");
    assert_non_null(strstr(k, "kind: Kptfile"));
    free(k);
    free(log);
}

static void test_existing_kptfile_kept(void **state)
{
    (void)state;
    const char *mine = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: mine\n";
    char *p = cad_path_join(dir, "Kptfile");
    assert_int_equal(cad_write_file(p, mine, strlen(mine)), 0);
    free(p);
    char *log = init_logged();
    assert_string_equal(log, "writing README.md\nwriting package-context.yaml\n");
    char *k = get("Kptfile"), *ctx = get("package-context.yaml");
    assert_string_equal(k, mine);
    assert_non_null(ctx);
    free(k);
    free(ctx);
    free(log);
    log = init_logged(); /* everything there: nothing written, no error */
    assert_true(log == NULL || *log == '\0');
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_package, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_kptfile_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
