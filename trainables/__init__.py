"""Trial layer: Data loading, tf.data pipelines, model builders and the one Ray-facing training
function."""
