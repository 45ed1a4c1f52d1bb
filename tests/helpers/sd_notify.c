/* A minimal sd_notify(3) for busybox test containers: sends one datagram (argv[1],
 * default "READY=1") to $NOTIFY_SOCKET ("@name" is an abstract address). Built static by
 * the tests and by integration/engines.sh, since the images have no libc. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *msg = argc > 1 ? argv[1] : "READY=1";
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) {
        fprintf(stderr, "sd_notify: NOTIFY_SOCKET is not set\n");
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(addr.sun_path)) {
        fprintf(stderr, "sd_notify: NOTIFY_SOCKET too long\n");
        return 2;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("sd_notify: socket");
        return 1;
    }
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + len;
    if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&addr, alen) < 0) {
        perror("sd_notify: sendto");
        return 1;
    }
    return 0;
}
