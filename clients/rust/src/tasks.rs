//! The task calls: GetTask, and WatchTask's stream of the task's changes.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tonic::Streaming;

use crate::client::Client;
use crate::error::DriveError;
use crate::pb;

impl Client {
    /// How the task is: the vendor's status, whether the avatar speaks and in which drive,
    /// the active drive, the queue and the idle deadline; `refresh` asks the vendor now.
    /// Fails with NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not know.
    pub async fn get_task(
        &self,
        task_id: &str,
        profile: &str,
        refresh: bool,
    ) -> Result<pb::TaskInfo, DriveError> {
        let request = self.request(pb::GetTaskRequest {
            task_id: task_id.to_owned(),
            profile: profile.to_owned(),
            refresh,
        });
        Ok(self.inner().get_task(request).await?.into_inner())
    }

    /// Opens a watch of `task_id`: a [`TaskWatch`] of its [`pb::TaskInfo`] now and at each
    /// change, until the task has ended (the last says `TASK_STATUS_STOPPED` or
    /// `TASK_STATUS_INIT_FAILED`). Dropping the watch ends it. Fails (here or from the
    /// stream) with NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not know.
    pub async fn watch_task(&self, task_id: &str, profile: &str) -> Result<TaskWatch, DriveError> {
        let request = self.request(pb::WatchTaskRequest {
            task_id: task_id.to_owned(),
            profile: profile.to_owned(),
        });
        let stream = self.inner().watch_task(request).await?.into_inner();
        Ok(TaskWatch {
            stream: Some(stream),
        })
    }
}

/// An open WatchTask call: a [`Stream`] of the task's [`pb::TaskInfo`] that ends once the task
/// has ended, or with one [`DriveError`].
pub struct TaskWatch {
    stream: Option<Streaming<pb::TaskInfo>>,
}

impl TaskWatch {
    /// The task's next `TaskInfo`; `None` once the task has ended.
    pub async fn next(&mut self) -> Option<Result<pb::TaskInfo, DriveError>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl fmt::Debug for TaskWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskWatch")
            .field("open", &self.stream.is_some())
            .finish()
    }
}

impl Stream for TaskWatch {
    type Item = Result<pb::TaskInfo, DriveError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(None);
        };
        match std::task::ready!(Pin::new(stream).poll_next(cx)) {
            Some(Ok(info)) => Poll::Ready(Some(Ok(info))),
            Some(Err(status)) => {
                self.stream = None; // one error at most, then the end
                Poll::Ready(Some(Err(DriveError::from_status(&status))))
            }
            None => {
                self.stream = None;
                Poll::Ready(None)
            }
        }
    }
}
