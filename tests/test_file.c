/* SPDX-License-Identifier: Apache-2.0 */
/* test_file.c - core/file.c: gw_read_file reads a regular file whole, up
 * to its maximum and not a byte past it; a larger file, a FIFO, a
 * directory or a missing file is an error that names the path and hands
 * back nothing.  Its users (kubeconfig, token files, secret files, the
 * bearer-token list) are tested through their own modules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

#include "testutil.h"

typedef struct {
    char dir[256];
    char path[300];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/test_file.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/f", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* n bytes, byte i being 'a' + i % 26 */
static void write_n(const char *path, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), fp);
    fclose(fp);
}

static void reads_whole_file_up_to_max(void **state)
{
    fixture *f = *state;
    /* below, at and (for the growth path: st_size is a hint) well above the
     * first buffer */
    static const size_t sizes[] = { 0, 1, 63, 64, 65, 4095, 4096, 100000 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        write_n(f->path, sizes[i]);
        char *data = NULL, err[512] = "";
        size_t len = 99;
        struct stat st;
        assert_int_equal(gw_read_file(f->path, 100000, &data, &len, &st, err, sizeof err), GW_OK);
        assert_int_equal(len, sizes[i]);
        assert_non_null(data);
        assert_int_equal(data[len], '\0');
        for (size_t j = 0; j < len; j++)
            if (data[j] != 'a' + (char)(j % 26))
                fail_msg("byte %zu of %zu wrong", j, len);
        assert_int_equal(st.st_size, (off_t)sizes[i]);
        gw_file_free(data, len);
    }
}

static void one_byte_over_max_is_too_big(void **state)
{
    fixture *f = *state;
    write_n(f->path, 4097);
    char *data = (char *)1, err[512] = "";
    size_t len = 99;
    assert_int_equal(gw_read_file(f->path, 4096, &data, &len, NULL, err, sizeof err),
                     GW_ETOOBIG);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_contains(err, f->path);
    assert_contains(err, "larger than 4096 bytes");
}

static void missing_file_cannot_be_read(void **state)
{
    fixture *f = *state;
    char *data = (char *)1, err[512] = "";
    size_t len;
    assert_int_equal(gw_read_file(f->path, 10, &data, &len, NULL, err, sizeof err), GW_ECONFIG);
    assert_null(data);
    assert_contains(err, "cannot read ");
    assert_contains(err, f->path);
    assert_contains(err, "No such file");
}

/* A FIFO with no writer would block a plain open() forever; a directory
 * reads as EISDIR.  Both are refused by what they are, at once. */
static void fifo_and_directory_are_not_regular_files(void **state)
{
    fixture *f = *state;
    assert_int_equal(mkfifo(f->path, 0600), 0);
    char *data = (char *)1, err[512] = "";
    size_t len;
    assert_int_equal(gw_read_file(f->path, 10, &data, &len, NULL, err, sizeof err), GW_EINVAL);
    assert_null(data);
    assert_contains(err, "is not a regular file");
    assert_int_equal(gw_read_file(f->dir, 10, &data, &len, NULL, err, sizeof err), GW_EINVAL);
    assert_contains(err, f->dir);
}

/* /proc files report size 0 and still have content: the size is a hint. */
static void size_zero_file_with_content(void **state)
{
    (void)state;
    char *data = NULL, err[512] = "";
    size_t len = 0;
    assert_int_equal(gw_read_file("/proc/self/status", 1 << 20, &data, &len, NULL, err,
                                  sizeof err), GW_OK);
    assert_true(len > 64);
    assert_non_null(strstr(data, "Name:"));
    gw_file_free(data, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_whole_file_up_to_max, setup, teardown),
        cmocka_unit_test_setup_teardown(one_byte_over_max_is_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_cannot_be_read, setup, teardown),
        cmocka_unit_test_setup_teardown(fifo_and_directory_are_not_regular_files, setup,
                                        teardown),
        cmocka_unit_test(size_zero_file_with_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
