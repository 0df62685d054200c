//! The real MLflow tracking server of every suite (`automations_testkit::mlflow`).

// Each test binary compiles the whole support module; not all of them start an MLflow server.
#[allow(unused_imports)]
pub use automations_testkit::mlflow::MlflowServer;
