/* For tests/seccomp_notify.rs: installs a SIGUSR1 handler WITHOUT SA_RESTART (a notified
 * call interrupted by the signal returns EINTR instead of being restarted into a second
 * notification), then calls mkdir(argv[1]) -- the syscall the profile routes to the agent --
 * and prints what it returned and how many SIGUSR1s the handler saw by then:
 *   "mkdir=<ret> errno=<errno or 0> usr1=<count>" */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int sig) {
    (void)sig;
    usr1++;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: notify_signal DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) {
        perror("sigaction");
        return 2;
    }
    int r = mkdir(argv[1], 0755);
    int e = r == 0 ? 0 : errno;
    printf("mkdir=%d errno=%d usr1=%d\n", r, e, (int)usr1);
    return 0;
}
