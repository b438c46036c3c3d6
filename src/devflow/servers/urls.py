from __future__ import annotations

from django.urls import path

from devflow.servers.views import bulk, keys, labels, servers, terminal

app_name = "servers"

urlpatterns = [
    path("", servers.server_list, name="list"),
    path("add/", servers.server_add, name="add"),
    path("add-local/", servers.server_add_local, name="add_local"),
    path("<int:server_id>/", servers.server_detail, name="detail"),
    path("<int:server_id>/edit/", servers.server_edit, name="edit"),
    path("<int:server_id>/delete/", servers.server_delete, name="delete"),
    path("<int:server_id>/check/", servers.server_check, name="check"),
    path("<int:server_id>/actions/<str:name>/", servers.server_action, name="action"),
    path("<int:server_id>/retrust/", servers.server_retrust, name="retrust"),
    path("<int:server_id>/terminal/", terminal.server_terminal, name="terminal"),
    path("bulk/", bulk.bulk_list, name="bulk_list"),
    path("bulk/start/", bulk.bulk_start, name="bulk_start"),
    path("bulk/<int:run_id>/", bulk.bulk_detail, name="bulk_detail"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/<int:key_id>/", keys.key_detail, name="key_detail"),
    path("keys/<int:key_id>/download/", keys.key_download, name="key_download"),
    path("keys/<int:key_id>/delete/", keys.key_delete, name="key_delete"),
    path("keys/<int:key_id>/rotate/", keys.key_rotate, name="key_rotate"),
    path("keys/<int:key_id>/deploy/", keys.key_deploy, name="key_deploy"),
    path("labels/", labels.label_list, name="labels"),
    path("labels/tags/<int:tag_id>/delete/", labels.tag_delete, name="tag_delete"),
    path("labels/groups/<int:group_id>/delete/", labels.group_delete, name="group_delete"),
]
