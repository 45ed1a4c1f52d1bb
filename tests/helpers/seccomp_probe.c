/* Drives syscalls with chosen arguments for the seccomp tests (tests/seccomp_filters.rs) and
 * prints what became of each, one line per step (stdout unbuffered, so a step that kills the
 * process leaves every earlier line behind). Steps, in order:
 *   comm=NAME          prctl(PR_SET_NAME): a unique comm to find in the kernel log
 *   sys=NR[,A0,...]    syscall(NR, A0..A5) (numbers as strtoull, base 0)
 *                      -> "sys=...: 0" on success, else "sys=...: <errno>"
 *   int80=NR           the i386 syscall NR through `int $0x80` (x86-64 only)
 *                      -> "int80=NR: start", then "int80=NR: <raw return value>"
 *   thread=NR          a second thread calls syscall(NR) while the main thread waits in
 *                      pthread_join -> "thread=NR: main survived, thread finished=<0|1>" */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <errno.h>

static volatile int thread_finished;

static void *thread_main(void *arg) {
    syscall((long)arg);
    thread_finished = 1;
    return NULL;
}

static int do_sys(const char *spec) {
    unsigned long long a[7] = {0};
    int n = 0;
    const char *p = spec;
    while (n < 7) {
        char *end;
        errno = 0;
        a[n++] = strtoull(p, &end, 0);
        if (errno || end == p) {
            fprintf(stderr, "seccomp_probe: bad number in %s\n", spec);
            exit(2);
        }
        if (*end == '\0')
            break;
        if (*end != ',') {
            fprintf(stderr, "seccomp_probe: bad separator in %s\n", spec);
            exit(2);
        }
        p = end + 1;
    }
    errno = 0;
    long r = syscall((long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    return r == -1 ? errno : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "comm=", 5) == 0) {
            if (prctl(PR_SET_NAME, s + 5, 0, 0, 0) != 0) {
                perror("seccomp_probe: PR_SET_NAME");
                return 2;
            }
        } else if (strncmp(s, "sys=", 4) == 0) {
            printf("%s: %d\n", s, do_sys(s + 4));
        } else if (strncmp(s, "int80=", 6) == 0) {
#if defined(__x86_64__)
            long r = strtol(s + 6, NULL, 0);
            printf("%s: start\n", s);
            __asm__ volatile("int $0x80" : "+a"(r) : : "r8", "r9", "r10", "r11", "memory");
            printf("%s: %ld\n", s, r);
#else
            fprintf(stderr, "seccomp_probe: int80 needs x86-64\n");
            return 2;
#endif
        } else if (strncmp(s, "thread=", 7) == 0) {
            pthread_t t;
            long nr = strtol(s + 7, NULL, 0);
            if (pthread_create(&t, NULL, thread_main, (void *)nr) != 0) {
                fprintf(stderr, "seccomp_probe: pthread_create failed\n");
                return 2;
            }
            pthread_join(t, NULL);
            printf("%s: main survived, thread finished=%d\n", s, thread_finished);
        } else {
            fprintf(stderr, "seccomp_probe: unknown step %s\n", s);
            return 2;
        }
    }
    return 0;
}
