"""Which service of an app is its front end, the entry point its users call, decided from the manifests."""

from __future__ import annotations

from dataclasses import dataclass

from api.app import AppError, AppSpec


def _first_version(app: AppSpec, group: str) -> str:
    """The name calls to a VIP use: the service of that name, else the first version serving it."""
    return next(s.name for s in app.services if s.name == group or s.group == group)


@dataclass(frozen=True)
class FrontEnd:
    """The service users call (its VIP's name: a service with versions is called by its mesh service's)."""

    service: str
    reason: str    # how it was chosen, in words
    guessed: bool  # True when the manifests left a choice between several services: another may be meant


def call_tree(app: AppSpec, service: str) -> set[str]:
    """The services a GET /call on `service` (a service, or a mesh service: its first version) reaches
    through the call graph, itself included (cycles are walked once, as the service program does)."""
    reached, to_visit = set(), [_first_version(app, service)]
    while to_visit:
        name = to_visit.pop()
        if name not in reached:
            reached.add(name)
            to_visit.extend(app.service(name).dependencies)
    return reached


WEB_PORTS = frozenset({80, 443, 8080, 8443})  # HTTP's ports: where a published web front end usually listens


def _likeliest(app: AppSpec, groups: list[str], called: set[str], web_ports: bool) -> str:
    """Of `groups`: one no other service calls, then (with `web_ports`) one on an HTTP port, then
    the one whose call tree reaches the most services, then the first in the app's order."""
    def rank(group: str) -> tuple:
        service = app.service(_first_version(app, group))
        return (group not in called, web_ports and service.port in WEB_PORTS,
                len(call_tree(app, group)), -groups.index(group))
    return max(groups, key=rank)


def front_end(app: AppSpec, chosen: str = "") -> FrontEnd:
    """The app's front end. `chosen`, when given, is the user's choice (a service or mesh service
    name; AppError if the app has none of that name). Otherwise the service published for users
    (`exposed`: a LoadBalancer or NodePort Service, Compose ports); of several, preferably one no
    other service calls, then one on an HTTP port, then the one with the largest call tree. With
    none published it is a guess: of the services no other calls (a load generator calls the real
    front end and nothing calls it either), the one with the largest call tree. VNFs are never
    front ends."""
    groups = list(dict.fromkeys(s.group for s in app.services if not s.vnf_kind))
    if chosen:
        if chosen not in groups:
            raise AppError(f'front end "{chosen}": app "{app.name}" has no such service '
                           f'(services: {", ".join(groups)})')
        return FrontEnd(chosen, "chosen by the user", False)
    if not groups:
        raise AppError(f'app "{app.name}": only VNFs, no service users could call')
    called = {app.service(dep).group for s in app.services for dep in s.dependencies
              if app.service(dep).group != s.group}
    exposed = list(dict.fromkeys(s.group for s in app.services if s.exposed and not s.vnf_kind))
    if len(exposed) == 1:
        return FrontEnd(exposed[0], "the only service published for users", False)
    if exposed:
        return FrontEnd(_likeliest(app, exposed, called, web_ports=True),
                        f"of the {len(exposed)} services published for users ({', '.join(exposed)}), one no other "
                        "service calls, on an HTTP port, with the largest call tree, in that order", True)
    roots = [g for g in groups if g not in called]
    if not roots:  # every service is called by another (a cycle through all of them)
        return FrontEnd(_likeliest(app, groups, called, web_ports=False), "guessed: none is published for users "
                        "and every service is called by another; the largest call tree", True)
    return FrontEnd(_likeliest(app, roots, called, web_ports=False),
                    f"guessed: none is published for users; of the {len(roots)} service(s) no other service calls "
                    f"({', '.join(roots)}), the largest call tree", True)
