//! The figures worker (the `tokenmeter-figures` binary, a module of its own): draws one run's per-run figures
//! for the page, from the figure data the engine kept beside the run's records, else from the records in the
//! record store, else from the run's files. The engine's worker never links the charts, so it loads faster and
//! drawing a big run's figures never shares a thread with a measurement.

use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::browser::clock::clock_info;
use crate::browser::js;
use crate::browser::store::RunStore;
use crate::charts::{
    figures_of_files, method_of, run_figures, server_metrics_figures, BatchFigures, Figure, FigureData,
};
use crate::core::checkpoint::{figures_key, Entry};
use crate::engine::remote::{FigureJob, FromEngine, ToEngine};

/// Listens for the page's figures jobs and says it does ([`FromEngine::Ready`], as the engine's worker); the
/// figures worker binary's `main`.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post = {
        let scope = scope.clone();
        move |message: FromEngine| {
            let _ = scope.post_message(&JsValue::from_str(&message.to_json()));
        }
    };
    let on_message = {
        let post = post.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let text = event.data().as_string().unwrap_or_default();
            match ToEngine::from_json(&text) {
                Ok(ToEngine::Figures { job }) => {
                    let post = post.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let figures = draw_figures(&job).await;
                        post(FromEngine::Figures { figures });
                    });
                }
                // Visibility and the like are the engine's.
                Ok(_) => {}
                Err(message) => web_sys::console::error_1(&message.into()),
            }
        })
    };
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(FromEngine::Ready {
        time_origin_ms: js::TIME_ORIGIN.with(|o| *o),
        clock: clock_info(),
        build: crate::browser::engine_worker::BUILD_ID.to_owned(),
    });
}

/// A figures job (in a figures worker, never the one measuring): the run's figure data kept beside its records
/// (built by the engine as they finished), or else its records read batch by batch from the record store (and
/// the figure data kept for next time), or its files; drawn into the per-run figures.
async fn draw_figures(job: &FigureJob) -> Result<Vec<Figure>, String> {
    let mut figures = request_figures(job).await?;
    figures.extend(server_metrics_figures(&job.files, job.size));
    Ok(figures)
}

/// The figures drawn from the run's requests.
async fn request_figures(job: &FigureJob) -> Result<Vec<Figure>, String> {
    let Some(key) = &job.records else {
        return figures_of_files(&job.files, &job.stats, job.size);
    };
    let store = RunStore::open().await.map_err(|e| e.to_string())?;
    let method = method_of(&job.stats);
    let kept = store.figure_data(key).await.ok().flatten();
    let data = match kept.and_then(|json| FigureData::from_json(&json, method).ok()) {
        Some(data) => data,
        None => {
            let data = figure_data_of_batches(&store, key, &job.stats).await?;
            let entry = Entry::Figures {
                key: figures_key(key),
                json: data.to_json(),
            };
            let _ = store.put_checkpoint(&entry).await;
            data
        }
    };
    Ok(run_figures(&data, job.size))
}

/// A stored run's figure data, from its batches (a run imported, recovered, or kept before figure data was).
async fn figure_data_of_batches(
    store: &RunStore,
    key: &str,
    stats: &serde_json::Map<String, serde_json::Value>,
) -> Result<FigureData, String> {
    let mut figures = BatchFigures::new(stats);
    store
        .each_read(key, BATCHES_PER_READ, |batches| {
            batches.iter().try_for_each(|batch| {
                figures
                    .add(&String::from(&batch.responses), &String::from(&batch.extras))
                    .map_err(|e| format!("The stored records could not be read: {e}"))
            })
        })
        .await?;
    Ok(figures.finish())
}

/// How many stored batches one read takes (a batch is one snapshot's records: up to a few megabytes).
const BATCHES_PER_READ: u32 = 8;
