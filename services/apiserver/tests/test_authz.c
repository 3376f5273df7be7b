/* Who may do what: bearer tokens from a kube-apiserver CSV file, the
 * standalone policy file (and its admin-only default), and the cluster-mode
 * SubjectAccessReview client against a stub HTTPS endpoint (sar_stub.py), and
 * the cluster-mode read of ConfigMap extension-apiserver-authentication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "apiserver.h"
#include "error/error.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/porch-authz-XXXXXX";

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static apiserver_user user(const char *name, const char *group)
{
    apiserver_user u;
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "%s", name);
    if (group)
        apiserver_auth_add_group(&u, group, strlen(group));
    return u;
}

static void test_tokens(void **state)
{
    (void)state;
    char path[512];
    write_file("tokens.csv",
               "# token,user,uid,groups\n"
               "s3cr3t,alice,u-1,\"dev,ops\"\n"
               "other,bob,u-2\n",
               path, sizeof(path));
    apiserver_tokens *t = NULL;
    assert_int_equal(apiserver_tokens_load(path, &t), 0);
    apiserver_user u;
    assert_int_equal(apiserver_tokens_lookup(t, "s3cr3t", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.uid, "u-1");
    assert_int_equal(u.n_groups, 2);
    assert_string_equal(u.groups[1], "ops");
    assert_int_equal(apiserver_tokens_lookup(t, "s3cr3", &u), -1);
    assert_int_equal(porch_error_last()->code, 401);
    assert_int_equal(apiserver_tokens_lookup(t, "", &u), -1);
    apiserver_tokens_free(t);
    write_file("bad.csv", "onlytoken\n", path, sizeof(path));
    assert_int_equal(apiserver_tokens_load(path, &t), -1);
}

static void test_default_policy(void **state)
{
    (void)state;
    apiserver_authz_opts o = {0};
    apiserver_authz *a = NULL;
    assert_int_equal(apiserver_authz_new(&o, &a), 0);
    apiserver_attrs list = {
        .verb = "list", .group = "porch.kpt.dev", .resource = "packagerevisions", .ns = "default"};
    apiserver_user admin = user("porch-admin", "system:masters");
    apiserver_user bob = user("bob", "dev");
    assert_int_equal(apiserver_authz_check(a, &admin, &list), 0);
    assert_int_equal(apiserver_authz_check(a, &bob, &list), -1);
    assert_int_equal(porch_error_last()->code, 403);
    assert_non_null(strstr(porch_error_last()->message, "User \"bob\" cannot list"));
    apiserver_attrs version = {.verb = "get", .path = "/version"};
    assert_int_equal(apiserver_authz_check(a, &bob, &version), 0);
    apiserver_authz_free(a);
}

static void test_policy_file(void **state)
{
    (void)state;
    char path[512];
    write_file(
        "policy.json",
        "{\"rules\":[{\"groups\":[\"dev\"],\"verbs\":[\"get\",\"list\",\"watch\"],"
        "\"resources\":[\"packagerevisions\",\"repositories\"],\"namespaces\":[\"team-a\"]},"
        "{\"users\":[\"carol\"],\"verbs\":[\"*\"],\"resources\":[\"packagerevisions/approval\"]}]}",
        path, sizeof(path));
    apiserver_authz_opts o = {.policy_file = path};
    apiserver_authz *a = NULL;
    assert_int_equal(apiserver_authz_new(&o, &a), 0);
    apiserver_user bob = user("bob", "dev"), carol = user("carol", NULL);
    apiserver_attrs get_a = {
        .verb = "get", .group = "porch.kpt.dev", .resource = "packagerevisions", .ns = "team-a"};
    apiserver_attrs get_b = get_a;
    get_b.ns = "team-b";
    apiserver_attrs del_a = get_a;
    del_a.verb = "delete";
    apiserver_attrs approve = {.verb = "update",
                               .group = "porch.kpt.dev",
                               .resource = "packagerevisions",
                               .subresource = "approval",
                               .ns = "x"};
    assert_int_equal(apiserver_authz_check(a, &bob, &get_a), 0);
    assert_int_equal(apiserver_authz_check(a, &bob, &get_b), -1);
    assert_int_equal(apiserver_authz_check(a, &bob, &del_a), -1);
    assert_int_equal(apiserver_authz_check(a, &carol, &approve), 0);
    assert_int_equal(apiserver_authz_check(a, &carol, &get_a), -1);
    apiserver_authz_free(a);
    write_file("broken.json", "{\"rules\":[{\"users\":\"x\",\"verbs\":[\"get\"]}]}", path,
               sizeof(path));
    assert_int_equal(apiserver_authz_new(&o, &a), -1);
    assert_int_equal(porch_error_last()->code, 400);
}

/* Starts sar_stub.py on a free port; returns its pid and fills url. */
static pid_t start_stub(char *url, size_t cap, char *ca, size_t cacap)
{
    char cmd[1600], key[600];
    snprintf(ca, cacap, "%s/stub.crt", tmpdir);
    snprintf(key, sizeof(key), "%s/stub.key", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
             key, ca);
    assert_int_equal(system(cmd), 0);
    const char *src = getenv("PORCH_SOURCE_DIR");
    char script[600];
    snprintf(script, sizeof(script), "%s/services/apiserver/tests/sar_stub.py", src ? src : ".");
    for (int attempt = 0; attempt < 10; attempt++) {
        int port = 30000 + (int)(getpid() * 7 + attempt * 131) % 20000;
        pid_t pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) { /* the stub must not hold the test's output open */
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            char p[16];
            snprintf(p, sizeof(p), "%d", port);
            execlp("python3", "python3", script, p, ca, key, (char *)NULL);
            _exit(127);
        }
        /* Ready when the port accepts a connection (up to 10 s). */
        for (int i = 0; i < 100; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
            close(fd);
            if (rc == 0) {
                snprintf(url, cap, "https://127.0.0.1:%d", port);
                return pid;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid)
                break; /* it died (port taken?): try another port */
            usleep(100000);
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    fail_msg("cannot start sar_stub.py");
    return -1;
}

static void test_subject_access_review(void **state)
{
    (void)state;
    char url[128], ca[600], token[512];
    pid_t stub = start_stub(url, sizeof(url), ca, sizeof(ca));
    write_file("sa-token", "t0k\n", token, sizeof(token));
    apiserver_authz_opts o = {
        .webhook_url = url, .webhook_ca_file = ca, .webhook_token_file = token};
    apiserver_authz *a = NULL;
    assert_int_equal(apiserver_authz_new(&o, &a), 0);
    apiserver_user alice = user("alice", "dev"), bob = user("bob", "dev");
    apiserver_attrs get = {.verb = "get",
                           .group = "porch.kpt.dev",
                           .resource = "packagerevisions",
                           .ns = "ns",
                           .name = "r.p.ws"};
    apiserver_attrs del = get;
    del.verb = "delete";
    if (apiserver_authz_check(a, &alice, &get) != 0)
        fail_msg("alice get: %s", porch_error_last()->message);
    assert_int_equal(apiserver_authz_check(a, &alice, &del), -1);
    assert_int_equal(porch_error_last()->code, 403);
    assert_non_null(strstr(porch_error_last()->message, "stub says no"));
    assert_int_equal(apiserver_authz_check(a, &bob, &get), -1);
    assert_int_equal(porch_error_last()->code, 403);
    /* Answers are cached briefly: alice still gets in with the stub gone. */
    kill(stub, SIGTERM);
    waitpid(stub, NULL, 0);
    assert_int_equal(apiserver_authz_check(a, &alice, &get), 0);
    apiserver_attrs list = get;
    list.verb = "list";
    assert_int_equal(apiserver_authz_check(a, &alice, &list), -1);
    assert_int_equal(porch_error_last()->code, 503);
    apiserver_authz_free(a);
    /* A server whose certificate the CA file does not vouch for is refused. */
    stub = start_stub(url, sizeof(url), ca, sizeof(ca));
    apiserver_authz_opts wrong = {.webhook_url = url,
                                  .webhook_ca_file = "/etc/ssl/certs/ca-certificates.crt",
                                  .webhook_token_file = token};
    assert_int_equal(apiserver_authz_new(&wrong, &a), 0);
    assert_int_equal(apiserver_authz_check(a, &alice, &get), -1);
    assert_int_equal(porch_error_last()->code, 503);
    apiserver_authz_free(a);
    kill(stub, SIGTERM);
    waitpid(stub, NULL, 0);
}

/* Cluster mode reads the front-proxy settings from
 * kube-system/extension-apiserver-authentication, as an aggregated apiserver does. */
static void test_authentication_configmap(void **state)
{
    (void)state;
    char url[128], ca[600], token[512], bad_token[512];
    pid_t stub = start_stub(url, sizeof(url), ca, sizeof(ca));
    write_file("sa-token", "t0k\n", token, sizeof(token));
    write_file("bad-token", "nope\n", bad_token, sizeof(bad_token));
    apiserver_authcm_opts o = {.configmap = "kube-system/extension-apiserver-authentication",
                               .url = url,
                               .ca_file = ca,
                               .token_file = token,
                               .out_dir = tmpdir};
    apiserver_authcm cm;
    if (apiserver_authcm_load(&o, &cm) != 0)
        fail_msg("load: %s", porch_error_last()->message);
    assert_string_equal(cm.allowed_names, "front-proxy-client,aggregator");
    char want[700];
    snprintf(want, sizeof(want), "%s/pki/requestheader-client-ca.crt", tmpdir);
    assert_string_equal(cm.requestheader_ca_file, want);
    /* the written bundle is the stub's PEM, usable as --requestheader-client-ca-file */
    apiserver_authn_opts an = {.client_ca_file = cm.client_ca_file,
                               .requestheader_ca_file = cm.requestheader_ca_file,
                               .requestheader_allowed = cm.allowed_names};
    apiserver_authn *authn = NULL;
    if (apiserver_authn_new(&an, &authn) != 0)
        fail_msg("authn: %s", porch_error_last()->message);
    apiserver_authn_free(authn);
    /* the front proxy must send the headers we read */
    o.configmap = "kube-system/bad-headers";
    assert_int_equal(apiserver_authcm_load(&o, &cm), -1);
    assert_non_null(
        strstr(porch_error_last()->message, "requestheader-username-headers is [X-Other-User]"));
    /* a token the kube-apiserver refuses, a missing ConfigMap, a malformed name */
    o.configmap = "kube-system/extension-apiserver-authentication";
    o.token_file = bad_token;
    assert_int_equal(apiserver_authcm_load(&o, &cm), -1);
    assert_non_null(strstr(porch_error_last()->message, "HTTP 401"));
    o.token_file = token;
    o.configmap = "kube-system/nothing-here";
    assert_int_equal(apiserver_authcm_load(&o, &cm), -1);
    assert_int_equal(porch_error_last()->code, 404);
    o.configmap = "no-slash";
    assert_int_equal(apiserver_authcm_load(&o, &cm), -1);
    assert_int_equal(porch_error_last()->code, 400);
    kill(stub, SIGTERM);
    waitpid(stub, NULL, 0);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_default_policy),
        cmocka_unit_test(test_policy_file),
        cmocka_unit_test(test_subject_access_review),
        cmocka_unit_test(test_authentication_configmap),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
