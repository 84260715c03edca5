"""The Grafana dashboard and the docker-compose stack agree with the files the workbook runs."""

import json

import yaml

from mlops_workbook.ci import serving_image
from mlops_workbook.cm import dashboard, stack_config
from mlops_workbook.core import paths
from mlops_workbook.core.docker import containers

DEPLOY = paths.resolve(stack_config.DEPLOY)


def test_the_committed_dashboard_is_the_generated_one():
    committed = paths.resolve(dashboard.OUTPUT).read_text()
    assert committed == dashboard.as_json(), "regenerate it: python -m mlops_workbook.cm.dashboard"


def test_every_panel_queries_the_provisioned_prometheus():
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    panels = json.loads(dashboard.as_json())["panels"]
    assert [p["title"] for p in panels] == [p.title for p in dashboard.PANELS]
    assert {p["targets"][0]["datasource"]["uid"] for p in panels} == {uid}
    assert len({(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}) == len(panels), "panels overlap"


def test_compose_mounts_the_files_the_workbook_runs():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            assert (DEPLOY / volume.split(":")[0]).exists(), volume
    app_target = stack_config.shipped("prometheus/prometheus.yml")["scrape_configs"][0]["static_configs"][0]["targets"]
    assert app_target == [f"app:{containers.PORT}"]
    assert compose["services"]["app"]["image"] == f"{serving_image.IMAGE}:latest"  # the CLI's default tag


def test_compose_mounts_each_secret_where_alertmanager_reads_it():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    alertmanager = stack_config.shipped("alertmanager/alertmanager.yml")["global"]
    read_from = {alertmanager["smtp_auth_password_file"], alertmanager["slack_api_url_file"]}
    assert read_from == {f"/run/secrets/{name}" for name in compose["services"]["alertmanager"]["secrets"]}
    assert {s["environment"] for s in compose["secrets"].values()} == set(stack_config.SECRETS.values())
