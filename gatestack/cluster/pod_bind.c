/*
 * pod_bind: give a process run as a pod of the local cluster its own pod address.
 *
 * Envoy Gateway programs every proxy's listeners on 0.0.0.0 (in a real cluster each pod has
 * its own network namespace, so 0.0.0.0 means "this pod"). Here all pods share the
 * cluster's one network namespace, and two Gateways' proxies would both claim
 * 0.0.0.0:10080 (with SO_REUSEPORT the kernel would then hand each connection to either).
 * Loaded with LD_PRELOAD, this turns a bind() to the IPv4 wildcard into a bind() to
 * $POD_IP, which is what the pod's own namespace would have meant. Nothing else changes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef int (*bind_function)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *address, socklen_t length) {
    static bind_function real_bind;
    if (real_bind == NULL) {
        real_bind = (bind_function)dlsym(RTLD_NEXT, "bind");
    }
    const char *pod_ip = getenv("POD_IP");
    if (pod_ip != NULL && address != NULL && address->sa_family == AF_INET &&
        length >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)address;
        if (ipv4->sin_addr.s_addr == htonl(INADDR_ANY)) {
            struct sockaddr_in rebound = *ipv4;
            if (inet_pton(AF_INET, pod_ip, &rebound.sin_addr) == 1) {
                return real_bind(fd, (const struct sockaddr *)&rebound, sizeof rebound);
            }
        }
    }
    return real_bind(fd, address, length);
}
