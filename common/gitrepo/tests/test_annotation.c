/* The `kpt:` commit annotations (spec §11.4): every annotation line is read,
 * bad ones are skipped, and messages are written exactly as Porch writes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gitrepo/gitrepo.h"

static void parses_every_kpt_line(void **state)
{
    const char *msg = "Approve pkg/v1\n\nkpt:{\"package\":\"pkg\",\"workspaceName\":\"v1\","
                      "\"revision\":\"1\"}\n  kpt:{\"package\":\"other\"}  \n";
    int bad = -1;
    json_t *a = gitrepo_annotations_parse(msg, &bad);
    assert_int_equal(json_array_size(a), 2);
    assert_int_equal(bad, 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "workspaceName")),
                        "v1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1), "package")),
                        "other");
    json_decref(a);
}

static void skips_unparsable_annotations(void **state)
{
    int bad = 0;
    json_t *a = gitrepo_annotations_parse("invalid annotation\n\nkpt:{invalid:annotation}\n", &bad);
    assert_int_equal(json_array_size(a), 0);
    assert_int_equal(bad, 1);
    json_decref(a);
    a = gitrepo_annotations_parse("no annotation at all", &bad);
    assert_int_equal(json_array_size(a), 0);
    assert_int_equal(bad, 0);
    json_decref(a);
}

static void reads_the_task(void **state)
{
    json_t *a = gitrepo_annotations_parse(
        "Intermediate commit: init\n\n\nkpt:{\"package\":\"p\",\"workspaceName\":\"ws\","
        "\"revision\":\"0\",\"task\":{\"type\":\"init\",\"init\":{\"description\":\"d\"}}}\n",
        NULL);
    json_t *task = json_object_get(json_array_get(a, 0), "task");
    assert_string_equal(json_string_value(json_object_get(task, "type")), "init");
    json_decref(a);
}

static void draft_message_has_the_extra_blank_line(void **state)
{
    json_t *task =
        json_loads("{\"type\":\"init\",\"init\":{\"description\":\"my package\"}}", 0, NULL);
    char *m = gitrepo_commit_message(gitrepo_task_message("init"), 1, "dir/pkg", "ws1", "0", task);
    assert_string_equal(m, "Creating new empty revision\n\n\nkpt:{\"package\":\"dir/pkg\","
                           "\"workspaceName\":\"ws1\",\"revision\":\"0\",\"task\":{\"type\":"
                           "\"init\",\"init\":{\"description\":\"my package\"}}}\n");
    free(m);
    json_decref(task);
}

static void publish_message_has_no_task(void **state)
{
    char *m =
        gitrepo_commit_message("Approving package revision pkg/1", 0, "pkg", "ws1", "1", NULL);
    assert_string_equal(m, "Approving package revision pkg/1\n\nkpt:{\"package\":\"pkg\","
                           "\"workspaceName\":\"ws1\",\"revision\":\"1\"}\n");
    free(m);
}

static void task_messages_follow_the_spec(void **state)
{
    assert_string_equal(gitrepo_task_message("init"), "Creating new empty revision");
    assert_string_equal(gitrepo_task_message("clone"), "Creating new revision by cloning");
    assert_string_equal(gitrepo_task_message("edit"),
                        "Creating new revision by copying previous revision");
    assert_string_equal(gitrepo_task_message("upgrade"), "Upgrading revision");
    assert_string_equal(gitrepo_task_message("render"), "Rendering package");
    assert_string_equal(gitrepo_task_message(NULL), "Intermediate commit");
    assert_null(gitrepo_task_message("eval"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_kpt_line),
        cmocka_unit_test(skips_unparsable_annotations),
        cmocka_unit_test(reads_the_task),
        cmocka_unit_test(draft_message_has_the_extra_blank_line),
        cmocka_unit_test(publish_message_has_no_task),
        cmocka_unit_test(task_messages_follow_the_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
