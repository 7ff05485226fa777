# Source me: `. scripts/cdktf-env.sh` sets up the environment for cdktf-cli and jsii in this repo.
# No global state: cdktf-cli comes from ./node_modules (scripts/setup-cdktf.sh), Python from ./.venv.
_tocsin_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export TOCSIN_REPO="$_tocsin_root"
case ":$PATH:" in
  *":$_tocsin_root/node_modules/.bin:"*) ;;
  *) export PATH="$_tocsin_root/node_modules/.bin:$_tocsin_root/.venv/bin:$PATH" ;;
esac
# cdktf/Terraform phone home to checkpoint (version checks, telemetry): off. Nothing may leave the machine.
export CHECKPOINT_DISABLE=1
export DISABLE_VERSION_CHECK=1
export TF_IN_AUTOMATION=1
# jsii prints an end-of-life banner on every synth under Node 20; the value must name the major version.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}"
# cdktf otherwise points TF_PLUGIN_CACHE_DIR at ~/.terraform.d/plugin-cache; keep it inside the repo.
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-$_tocsin_root/.tf-plugins/cache}"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
# The provider is installed into a filesystem mirror (python -m tocsin.provider.install --dir .tf-plugins),
# which writes a CLI config; use it when present. `terraform providers lock` ignores provider_installation, so
# point it at the mirror too (or pass --skip-provider-lock to cdktf).
if [ -z "${TF_CLI_CONFIG_FILE:-}" ] && [ -f "$_tocsin_root/.tf-plugins/terraformrc" ]; then
  export TF_CLI_CONFIG_FILE="$_tocsin_root/.tf-plugins/terraformrc"
fi
if [ -z "${TF_CLI_ARGS_providers_lock:-}" ] && [ -d "$_tocsin_root/.tf-plugins/registry.terraform.io" ]; then
  export TF_CLI_ARGS_providers_lock="-fs-mirror=$_tocsin_root/.tf-plugins"
fi
unset _tocsin_root
